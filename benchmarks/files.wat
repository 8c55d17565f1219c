;; The guest of benchmarks/files.py and benchmarks/memory.py: a reactor whose
;; exports loop over WASI file calls. The preopen is fd 3 and holds big.bin and
;; files/f00000...; write_file makes out.bin.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  ;; 0: read iovec, 8: bytes read, 16: opened fd, 32: write iovec, 40: bytes written,
  ;; 64: filestat, 256: "big.bin", 512: "files/f00000", 768: "out.bin", 65536: the buffer (up to 1 MiB)
  (memory (export "memory") 20)
  (data (i32.const 256) "big.bin")
  (data (i32.const 512) "files/f00000")
  (data (i32.const 768) "out.bin")
  (global $buf i32 (i32.const 65536))

  ;; path_open with FD_READ | FD_FILESTAT_GET, following symlinks.
  (func $open (param $path i32) (param $len i32) (result i32)
    (if (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (local.get $len) (i32.const 0)
                         (i64.const 0x200002) (i64.const 0) (i32.const 0) (i32.const 16))
      (then unreachable))
    (i32.load (i32.const 16)))

  ;; Read big.bin with fd_read into a buffer of $size bytes; with $copy, write
  ;; each chunk to fd 1. Returns the bytes read.
  (func (export "stream") (param $size i32) (param $copy i32) (result i64)
    (local $fd i32) (local $n i32) (local $total i64)
    (local.set $fd (call $open (i32.const 256) (i32.const 7)))
    (i32.store (i32.const 0) (global.get $buf))
    (i32.store (i32.const 4) (local.get $size))
    (i32.store (i32.const 32) (global.get $buf))
    (block $done
      (loop $more
        (if (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $total (i64.add (local.get $total) (i64.extend_i32_u (local.get $n))))
        (if (local.get $copy)
          (then
            (i32.store (i32.const 36) (local.get $n))
            (if (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 40)) (then unreachable))
            (if (i32.ne (i32.load (i32.const 40)) (local.get $n)) (then unreachable))))
        (br $more)))
    (drop (call $fd_close (local.get $fd)))
    (local.get $total))

  ;; path_open + fd_filestat_get + fd_close on files/f00000 ... f{count-1}.
  ;; Returns the sum of their sizes.
  (func (export "stat_files") (param $count i32) (result i64)
    (local $i i32) (local $v i32) (local $pos i32) (local $fd i32) (local $sum i64)
    (loop $each
      (local.set $v (local.get $i))
      (local.set $pos (i32.const 524))
      (loop $digit  ;; five digits at 519..523
        (local.set $pos (i32.sub (local.get $pos) (i32.const 1)))
        (i32.store8 (local.get $pos) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
        (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
        (br_if $digit (i32.gt_u (local.get $pos) (i32.const 519))))
      (local.set $fd (call $open (i32.const 512) (i32.const 12)))
      (if (call $fd_filestat_get (local.get $fd) (i32.const 64)) (then unreachable))
      (local.set $sum (i64.add (local.get $sum) (i64.load (i32.const 96))))
      (drop (call $fd_close (local.get $fd)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (local.get $count))))
    (local.get $sum))

  ;; Write out.bin (created, or truncated) with fd_write, $size bytes a call,
  ;; $total bytes in all. Returns the bytes written.
  (func (export "write_file") (param $size i32) (param $total i64) (result i64)
    (local $fd i32) (local $done i64)
    ;; oflags CREAT | TRUNC, rights FD_WRITE
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 768) (i32.const 7) (i32.const 9)
                         (i64.const 0x40) (i64.const 0) (i32.const 0) (i32.const 16))
      (then unreachable))
    (local.set $fd (i32.load (i32.const 16)))
    (i32.store (i32.const 32) (global.get $buf))
    (i32.store (i32.const 36) (local.get $size))
    (block $done
      (loop $more
        (br_if $done (i64.ge_u (local.get $done) (local.get $total)))
        (if (call $fd_write (local.get $fd) (i32.const 32) (i32.const 1) (i32.const 40)) (then unreachable))
        (local.set $done (i64.add (local.get $done) (i64.extend_i32_u (i32.load (i32.const 40)))))
        (br $more)))
    (drop (call $fd_close (local.get $fd)))
    (local.get $done)))
