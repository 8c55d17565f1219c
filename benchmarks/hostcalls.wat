;; Guest loops for the host-call benchmark: each export calls one WASI
;; function n times. Memory: a ciovec at 0 -> 16 bytes at 64; results at 32.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "\40\00\00\00\10\00\00\00")
  (data (i32.const 64) "0123456789abcdef")
  (func (export "_start"))
  (func (export "args_sizes_get") (param $n i32) (result i32)
    (local $err i32)
    (loop $l
      (local.set $err (i32.or (local.get $err) (call $args_sizes_get (i32.const 32) (i32.const 36))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $err))
  (func (export "clock_time_get") (param $n i32) (result i32)
    (local $err i32)
    (loop $l
      (local.set $err (i32.or (local.get $err) (call $clock_time_get (i32.const 1) (i64.const 1) (i32.const 40))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $err))
  (func (export "random_get") (param $n i32) (result i32)
    (local $err i32)
    (loop $l
      (local.set $err (i32.or (local.get $err) (call $random_get (i32.const 128) (i32.const 16))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $err))
  (func (export "fd_write") (param $n i32) (result i32)
    (local $err i32)
    (loop $l
      (local.set $err (i32.or (local.get $err) (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 48))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $err))
)
