//! Allocator scenarios (upstream `hierarchical_allocator_tests.cpp` and
//! `sorter_tests.cpp`), on the synchronous allocator.
