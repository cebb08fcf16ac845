//! A counting semaphore over `usearch`'s search contexts.
//!
//! `usearch` gives every concurrent operation one of a fixed number of thread contexts
//! (scratch space for the graph walk) reserved up front; an operation that finds none
//! free fails with "Reserve capacity ahead of searches!". [`HnswIndex`](super::HnswIndex)
//! is `Sync`, so any number of threads may search at once: they take a permit here
//! first, and the ones beyond the number of contexts wait instead of failing.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Permits for the search contexts reserved in a `usearch` index.
#[derive(Debug)]
pub(super) struct Contexts {
    count: usize,
    free: Mutex<usize>,
    released: Condvar,
}

/// One held context; dropping it releases the context.
#[derive(Debug)]
pub(super) struct Permit<'a> {
    contexts: &'a Contexts,
}

impl Contexts {
    /// Permits for `count` contexts, all free.
    pub(super) fn new(count: usize) -> Self {
        Contexts { count, free: Mutex::new(count), released: Condvar::new() }
    }

    /// How many contexts there are.
    pub(super) fn count(&self) -> usize {
        self.count
    }

    /// Takes a permit, waiting until one is free.
    pub(super) fn acquire(&self) -> Permit<'_> {
        let mut free = self.lock();
        while *free == 0 {
            free = self.released.wait(free).unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit { contexts: self }
    }

    /// The free count. No code panics while holding the lock, and the count is a
    /// plain integer that is always consistent, so a poisoned lock is still usable.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.contexts.lock() += 1;
        self.contexts.released.notify_one();
    }
}
