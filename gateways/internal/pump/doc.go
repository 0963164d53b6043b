// Package pump runs many small tasks on a few worker goroutines: the
// connections of a gateway become tasks that are scheduled when there is
// something for them to do (a commit woke their subscription, a socket
// became readable) instead of each parking a goroutine of its own. An idle
// connection then costs a Task (a few words), not a goroutine stack.
//
// A task's run function must not block: it does what it can without
// waiting (non-blocking reads and writes, a TryNext) and returns; whatever
// remains is picked up when the task is made ready again. Blocking work
// that must own the task's state (a durable write, say) runs on the
// caller's goroutine with Task.Do, which excludes the workers from the task
// meanwhile without stalling them.
package pump
