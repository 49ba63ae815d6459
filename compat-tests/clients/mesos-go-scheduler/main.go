// A minimal v0 framework on the stock mesos-go 0.0.6 scheduler driver
// (pure Go, libprocess wire protocol; the Debian package ships no examples).
// It registers, launches one command task on the first offer that fits,
// declines every other offer, and reports what the driver delivers as JSON
// lines on stdout for compat-tests/tests/mesos_go_v0.rs to check.
//
// Scenarios (--scenario):
//   - command: the task runs `--command`; success is TASK_FINISHED.
//   - kill: the task sleeps; on TASK_RUNNING the framework reconciles it
//     (explicit reconciliation), and on the master's answer kills it;
//     success is TASK_KILLED.
//   - failover-first: the task sleeps; on TASK_RUNNING the driver stops
//     with failover (no unregistration) and the program exits, leaving the
//     framework to its failover timeout.
//   - failover-second: a new driver takes over --framework-id (the driver
//     sends ReregisterFrameworkMessage with failover), reconciles
//     implicitly, and kills the task the master reports; success is
//     TASK_KILLED. It launches nothing.
//
// With --principal (and --secret) the driver authenticates with CRAM-MD5
// before registering; FrameworkInfo.principal is set to the same value
// unless --framework-principal names another, or is left unset with
// --omit-framework-principal (the master then fills it in).
//
// Exit status: 0 on the scenario's expected outcome (the driver is stopped
// first; without failover except in failover-first), 1 on any error,
// another terminal state, or the timeout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gogo/protobuf/proto"
	"github.com/mesos/mesos-go/api/v0/auth"
	"github.com/mesos/mesos-go/api/v0/auth/sasl"
	mesos "github.com/mesos/mesos-go/api/v0/mesosproto"
	util "github.com/mesos/mesos-go/api/v0/mesosutil"
	sched "github.com/mesos/mesos-go/api/v0/scheduler"
	"golang.org/x/net/context"
)

const (
	taskCPUs = 0.1
	taskMem  = 32.0
)

var outMu sync.Mutex

// emit writes one JSON object per line; the test parses nothing else.
func emit(fields map[string]interface{}) {
	b, err := json.Marshal(fields)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cannot encode event: %v\n", err)
		return
	}
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Println(string(b))
}

type scheduler struct {
	scenario string
	command  string
	launched bool
	killed   bool
	done     chan int // exit code
	once     sync.Once
}

func (s *scheduler) finish(code int) {
	s.once.Do(func() { s.done <- code })
}

func (s *scheduler) Registered(driver sched.SchedulerDriver, id *mesos.FrameworkID, mi *mesos.MasterInfo) {
	emit(map[string]interface{}{
		"event":        "registered",
		"framework_id": id.GetValue(),
		"master_id":    mi.GetId(),
		"master_pid":   mi.GetPid(),
	})
	if s.scenario == "failover-second" {
		// Implicit reconciliation: the master reports every task it knows.
		if _, err := driver.ReconcileTasks([]*mesos.TaskStatus{}); err != nil {
			emit(map[string]interface{}{"event": "error", "message": "reconcile: " + err.Error()})
			s.finish(1)
		}
	}
}

func (s *scheduler) Reregistered(_ sched.SchedulerDriver, mi *mesos.MasterInfo) {
	emit(map[string]interface{}{"event": "reregistered", "master_id": mi.GetId()})
}

func (s *scheduler) Disconnected(sched.SchedulerDriver) {
	emit(map[string]interface{}{"event": "disconnected"})
}

func scalar(offer *mesos.Offer, name string) float64 {
	total := 0.0
	for _, r := range offer.GetResources() {
		if r.GetName() == name && r.GetType() == mesos.Value_SCALAR {
			total += r.GetScalar().GetValue()
		}
	}
	return total
}

func (s *scheduler) ResourceOffers(driver sched.SchedulerDriver, offers []*mesos.Offer) {
	for _, offer := range offers {
		emit(map[string]interface{}{
			"event":    "offer",
			"offer_id": offer.GetId().GetValue(),
			"slave_id": offer.GetSlaveId().GetValue(),
			"hostname": offer.GetHostname(),
			"cpus":     scalar(offer, "cpus"),
			"mem":      scalar(offer, "mem"),
		})
		if s.launched || scalar(offer, "cpus") < taskCPUs || scalar(offer, "mem") < taskMem {
			if _, err := driver.DeclineOffer(offer.Id, &mesos.Filters{RefuseSeconds: proto.Float64(1)}); err != nil {
				emit(map[string]interface{}{"event": "error", "message": "decline: " + err.Error()})
			}
			continue
		}
		taskID := fmt.Sprintf("mesos-go-task-%d", time.Now().UnixNano())
		task := &mesos.TaskInfo{
			Name:    proto.String("mesos-go-echo"),
			TaskId:  util.NewTaskID(taskID),
			SlaveId: offer.SlaveId,
			Command: &mesos.CommandInfo{Value: proto.String(s.command), Shell: proto.Bool(true)},
			Resources: []*mesos.Resource{
				util.NewScalarResource("cpus", taskCPUs),
				util.NewScalarResource("mem", taskMem),
			},
		}
		if _, err := driver.LaunchTasks([]*mesos.OfferID{offer.Id}, []*mesos.TaskInfo{task}, &mesos.Filters{RefuseSeconds: proto.Float64(1)}); err != nil {
			emit(map[string]interface{}{"event": "error", "message": "launch: " + err.Error()})
			s.finish(1)
			return
		}
		s.launched = true
		emit(map[string]interface{}{"event": "launch", "task_id": taskID, "offer_id": offer.GetId().GetValue()})
	}
}

func (s *scheduler) OfferRescinded(_ sched.SchedulerDriver, id *mesos.OfferID) {
	emit(map[string]interface{}{"event": "rescind", "offer_id": id.GetValue()})
}

func (s *scheduler) StatusUpdate(driver sched.SchedulerDriver, status *mesos.TaskStatus) {
	reason := ""
	if status.Reason != nil {
		reason = status.GetReason().String()
	}
	source := ""
	if status.Source != nil {
		source = status.GetSource().String()
	}
	emit(map[string]interface{}{
		"event":        "update",
		"task_id":      status.GetTaskId().GetValue(),
		"state":        status.GetState().String(),
		"has_slave_id": status.GetSlaveId().GetValue() != "",
		"slave_id":     status.GetSlaveId().GetValue(),
		"has_uuid":     len(status.GetUuid()) > 0,
		"source":       source,
		"reason":       reason,
		"message":      status.GetMessage(),
	})
	state := status.GetState()
	if s.scenario == "failover-first" && state == mesos.TaskState_TASK_RUNNING {
		s.finish(0)
		return
	}
	if (s.scenario == "kill" || s.scenario == "failover-second") && state == mesos.TaskState_TASK_RUNNING {
		if status.Reason == nil && s.scenario == "kill" {
			// The executor's TASK_RUNNING: ask the master about the task.
			query := &mesos.TaskStatus{TaskId: status.TaskId, State: status.State, SlaveId: status.SlaveId}
			if _, err := driver.ReconcileTasks([]*mesos.TaskStatus{query}); err != nil {
				emit(map[string]interface{}{"event": "error", "message": "reconcile: " + err.Error()})
				s.finish(1)
			}
		} else if status.GetReason() == mesos.TaskStatus_REASON_RECONCILIATION && !s.killed {
			s.killed = true
			if _, err := driver.KillTask(status.TaskId); err != nil {
				emit(map[string]interface{}{"event": "error", "message": "kill: " + err.Error()})
				s.finish(1)
			}
		}
		return
	}
	switch state {
	case mesos.TaskState_TASK_STAGING, mesos.TaskState_TASK_STARTING, mesos.TaskState_TASK_RUNNING:
	case mesos.TaskState_TASK_FINISHED:
		s.finishIf(s.scenario == "command")
	case mesos.TaskState_TASK_KILLED:
		s.finishIf(s.scenario == "kill" || s.scenario == "failover-second")
	default:
		// Every other state is terminal (this proto predates TASK_KILLING).
		s.finish(1)
	}
}

func (s *scheduler) finishIf(expected bool) {
	if expected {
		s.finish(0)
	} else {
		s.finish(1)
	}
}

func (s *scheduler) FrameworkMessage(_ sched.SchedulerDriver, e *mesos.ExecutorID, a *mesos.SlaveID, data string) {
	emit(map[string]interface{}{"event": "message", "executor_id": e.GetValue(), "data": data})
}

func (s *scheduler) SlaveLost(_ sched.SchedulerDriver, id *mesos.SlaveID) {
	emit(map[string]interface{}{"event": "slave_lost", "slave_id": id.GetValue()})
}

func (s *scheduler) ExecutorLost(_ sched.SchedulerDriver, e *mesos.ExecutorID, a *mesos.SlaveID, status int) {
	emit(map[string]interface{}{"event": "executor_lost", "executor_id": e.GetValue(), "status": status})
}

func (s *scheduler) Error(_ sched.SchedulerDriver, message string) {
	emit(map[string]interface{}{"event": "error", "message": message})
	s.finish(1)
}

func main() {
	master := flag.String("master", "127.0.0.1:5050", "master host:port")
	name := flag.String("name", "mesos-go-v0", "framework name")
	scenario := flag.String("scenario", "command", "command or kill")
	command := flag.String("command", "", "the task's shell command (default: per scenario)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	frameworkID := flag.String("framework-id", "", "an existing framework's id to take over")
	failoverTimeout := flag.Float64("failover-timeout", 0, "FrameworkInfo.failover_timeout in seconds")
	principal := flag.String("principal", "", "authenticate (CRAM-MD5) as this principal")
	secret := flag.String("secret", "", "the principal's secret")
	frameworkPrincipal := flag.String("framework-principal", "", "FrameworkInfo.principal, if not --principal")
	omitFrameworkPrincipal := flag.Bool("omit-framework-principal", false, "leave FrameworkInfo.principal unset")
	flag.Parse()

	cmd := *command
	switch {
	case cmd != "":
	case *scenario == "command":
		cmd = "echo hello-from-mesos-go"
	case *scenario == "kill", *scenario == "failover-first", *scenario == "failover-second":
		cmd = "sleep 120"
	default:
		emit(map[string]interface{}{"event": "error", "message": "unknown scenario " + *scenario})
		os.Exit(1)
	}
	s := &scheduler{
		scenario: *scenario,
		command:  cmd,
		launched: *scenario == "failover-second",
		done:     make(chan int, 1),
	}
	var id *mesos.FrameworkID
	if *frameworkID != "" {
		id = util.NewFrameworkID(*frameworkID)
	}
	config := sched.DriverConfig{
		Scheduler: s,
		Framework: &mesos.FrameworkInfo{
			User:            proto.String(""), // the driver fills in the current user
			Name:            proto.String(*name),
			Id:              id,
			FailoverTimeout: proto.Float64(*failoverTimeout),
		},
		Master:         *master,
		BindingAddress: net.ParseIP("127.0.0.1"),
	}
	if *principal != "" {
		config.Framework.Principal = proto.String(*principal)
		if *frameworkPrincipal != "" {
			config.Framework.Principal = proto.String(*frameworkPrincipal)
		}
		if *omitFrameworkPrincipal {
			config.Framework.Principal = nil
		}
		config.Credential = &mesos.Credential{
			Principal: proto.String(*principal),
			Secret:    proto.String(*secret),
		}
		config.WithAuthContext = func(ctx context.Context) context.Context {
			ctx = auth.WithLoginProvider(ctx, sasl.ProviderName)
			return sasl.WithBindingAddress(ctx, net.ParseIP("127.0.0.1"))
		}
	}
	driver, err := sched.NewMesosSchedulerDriver(config)
	if err != nil {
		emit(map[string]interface{}{"event": "error", "message": "new driver: " + err.Error()})
		os.Exit(1)
	}
	if st, err := driver.Start(); err != nil {
		emit(map[string]interface{}{"event": "error", "message": fmt.Sprintf("start: %v (%v)", err, st)})
		os.Exit(1)
	}

	code := 1
	select {
	case code = <-s.done:
	case <-time.After(*timeout):
		emit(map[string]interface{}{"event": "error", "message": "timed out after " + timeout.String()})
	}
	// Without failover the framework is done and the master tears it down;
	// with it, the master keeps it for its failover timeout.
	if _, err := driver.Stop(*scenario == "failover-first"); err != nil {
		emit(map[string]interface{}{"event": "error", "message": "stop: " + err.Error()})
	}
	emit(map[string]interface{}{"event": "stopped", "exit": code})
	os.Exit(code)
}
