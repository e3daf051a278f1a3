;; vnet's fused kernels for the wasm backend: WebAssembly SIMD loops over tensors that live in the
;; tfjs wasm backend's own memory (imported). Pointers are byte offsets into that memory; counts are
;; elements (float32 unless said). Built into kernels-wasm.ts by `npm run build:simd` (wabt); a test
;; checks that the two agree. The callers are in ../fused.ts, which documents the formulas.
(module
  (import "env" "memory" (memory 1))

  ;; One Adam update, every operation rounded to float32 in the order of the tfjs-op path
  ;; (train/adam.ts), so both give the same bits:
  ;;   g' = g + p·decay (decay ≠ 0 only); m' = m·b1 + g'·c1; v' = v·b2 + g'²·c2;
  ;;   p' = p − (m' / (√v' / sqrtBc2 + eps))·stepSize
  (func (export "adam")
    (param $p i32) (param $g i32) (param $m i32) (param $v i32)
    (param $op i32) (param $om i32) (param $ov i32) (param $n i32)
    (param $b1 f32) (param $c1 f32) (param $b2 f32) (param $c2 f32)
    (param $eps f32) (param $step f32) (param $bc f32) (param $decay f32)
    (local $i i32) (local $o i32) (local $n4 i32)
    (local $x v128) (local $gv v128) (local $mv v128) (local $vv v128)
    (local $gs f32) (local $ms f32) (local $vs f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $simd
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (v128.load (i32.add (local.get $p) (local.get $o))))
        (local.set $gv (v128.load (i32.add (local.get $g) (local.get $o))))
        (if (f32.ne (local.get $decay) (f32.const 0))
          (then (local.set $gv (f32x4.add (local.get $gv)
                  (f32x4.mul (local.get $x) (f32x4.splat (local.get $decay)))))))
        (local.set $mv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $m) (local.get $o))) (f32x4.splat (local.get $b1)))
          (f32x4.mul (local.get $gv) (f32x4.splat (local.get $c1)))))
        (local.set $vv (f32x4.add
          (f32x4.mul (v128.load (i32.add (local.get $v) (local.get $o))) (f32x4.splat (local.get $b2)))
          (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (local.get $c2)))))
        (v128.store (i32.add (local.get $om) (local.get $o)) (local.get $mv))
        (v128.store (i32.add (local.get $ov) (local.get $o)) (local.get $vv))
        (v128.store (i32.add (local.get $op) (local.get $o))
          (f32x4.sub (local.get $x)
            (f32x4.mul
              (f32x4.div (local.get $mv)
                (f32x4.add (f32x4.div (f32x4.sqrt (local.get $vv)) (f32x4.splat (local.get $bc)))
                           (f32x4.splat (local.get $eps))))
              (f32x4.splat (local.get $step)))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $simd)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $gs (f32.load (i32.add (local.get $g) (local.get $o))))
        (if (f32.ne (local.get $decay) (f32.const 0))
          (then (local.set $gs (f32.add (local.get $gs)
                  (f32.mul (f32.load (i32.add (local.get $p) (local.get $o))) (local.get $decay))))))
        (local.set $ms (f32.add
          (f32.mul (f32.load (i32.add (local.get $m) (local.get $o))) (local.get $b1))
          (f32.mul (local.get $gs) (local.get $c1))))
        (local.set $vs (f32.add
          (f32.mul (f32.load (i32.add (local.get $v) (local.get $o))) (local.get $b2))
          (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (local.get $c2))))
        (f32.store (i32.add (local.get $om) (local.get $o)) (local.get $ms))
        (f32.store (i32.add (local.get $ov) (local.get $o)) (local.get $vs))
        (f32.store (i32.add (local.get $op) (local.get $o))
          (f32.sub (f32.load (i32.add (local.get $p) (local.get $o)))
            (f32.mul
              (f32.div (local.get $ms)
                (f32.add (f32.div (f32.sqrt (local.get $vs)) (local.get $bc)) (local.get $eps)))
              (local.get $step))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; a⁺ and a⁻ are pmax(0, a) / pmin(0, a), also for single elements (as lane 0 of a splat):
;; branch-free, where a's random signs make branches mispredict (scalar float select, f32.max and
;; f32.min all lower to branches on x64).

  ;; Σ_i a⁺[i]·l[i] + a⁻[i]·u[i] over n elements.
  (func (export "dotRow") (param $a i32) (param $l i32) (param $u i32) (param $n i32) (result f32)
    (local $i i32) (local $o i32) (local $n4 i32) (local $x v128) (local $acc v128) (local $s f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $simd
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (v128.load (i32.add (local.get $a) (local.get $o))))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.add
          (f32x4.mul (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $x)) (v128.load (i32.add (local.get $l) (local.get $o))))
          (f32x4.mul (f32x4.pmin (v128.const f32x4 0 0 0 0) (local.get $x)) (v128.load (i32.add (local.get $u) (local.get $o)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $simd)))
    (local.set $s (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (f32x4.splat (f32.load (i32.add (local.get $a) (local.get $o)))))
        (local.set $s (f32.add (local.get $s) (f32x4.extract_lane 0 (f32x4.add
          (f32x4.mul (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $x)) (f32x4.splat (f32.load (i32.add (local.get $l) (local.get $o)))))
          (f32x4.mul (f32x4.pmin (v128.const f32x4 0 0 0 0) (local.get $x)) (f32x4.splat (f32.load (i32.add (local.get $u) (local.get $o)))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $s))

  ;; out[i] = a⁺[i]·l[i] + a⁻[i]·u[i] for i < n.
  (func (export "formRow") (param $a i32) (param $l i32) (param $u i32) (param $n i32) (param $out i32)
    (local $i i32) (local $o i32) (local $n4 i32) (local $x v128)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $simd
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (v128.load (i32.add (local.get $a) (local.get $o))))
        (v128.store (i32.add (local.get $out) (local.get $o)) (f32x4.add
          (f32x4.mul (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $x)) (v128.load (i32.add (local.get $l) (local.get $o))))
          (f32x4.mul (f32x4.pmin (v128.const f32x4 0 0 0 0) (local.get $x)) (v128.load (i32.add (local.get $u) (local.get $o))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $simd)))
    (block $tail_done
      (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $i) (local.get $n)))
        ;; one lane of the same vector formula (scalar selects on floats would branch)
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (f32x4.splat (f32.load (i32.add (local.get $a) (local.get $o)))))
        (f32.store (i32.add (local.get $out) (local.get $o)) (f32x4.extract_lane 0 (f32x4.add
          (f32x4.mul (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $x)) (f32x4.splat (f32.load (i32.add (local.get $l) (local.get $o)))))
          (f32x4.mul (f32x4.pmin (v128.const f32x4 0 0 0 0) (local.get $x)) (f32x4.splat (f32.load (i32.add (local.get $u) (local.get $o))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail))))

  ;; The gradient of a⁺·l + a⁻·u with weights w[i] (or ws at every i when w = -1), i < n:
  ;;   da[i] += w·(l if a > 0, else u);  dl[i] += a⁺·w;  du[i] += a⁻·w.
  ;; At a = 0 this is the derivative of the op form a·(l + u)/2 − |a|·(u − l)/2 as tfjs takes it
  ;; (its |a|' is −1 at 0).
  (func (export "gradRow") (param $a i32) (param $l i32) (param $u i32) (param $n i32)
    (param $w i32) (param $ws f32) (param $da i32) (param $dl i32) (param $du i32)
    (local $i i32) (local $o i32) (local $n4 i32) (local $x v128) (local $lv v128) (local $uv v128)
    (local $wv v128) (local $coef v128) (local $lane i32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    (block $done
      (loop $simd
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $o (i32.shl (local.get $i) (i32.const 2)))
        ;; whole vectors, then one lane at a time for the tail (the same formula on splats)
        (local.set $lane (i32.ge_u (local.get $i) (local.get $n4)))
        (if (local.get $lane)
          (then
            (local.set $x (f32x4.splat (f32.load (i32.add (local.get $a) (local.get $o)))))
            (local.set $lv (f32x4.splat (f32.load (i32.add (local.get $l) (local.get $o)))))
            (local.set $uv (f32x4.splat (f32.load (i32.add (local.get $u) (local.get $o)))))
            (local.set $wv (f32x4.splat (if (result f32) (i32.eq (local.get $w) (i32.const -1))
              (then (local.get $ws))
              (else (f32.load (i32.add (local.get $w) (local.get $o))))))))
          (else
            (local.set $x (v128.load (i32.add (local.get $a) (local.get $o))))
            (local.set $lv (v128.load (i32.add (local.get $l) (local.get $o))))
            (local.set $uv (v128.load (i32.add (local.get $u) (local.get $o))))
            (local.set $wv (if (result v128) (i32.eq (local.get $w) (i32.const -1))
              (then (f32x4.splat (local.get $ws)))
              (else (v128.load (i32.add (local.get $w) (local.get $o))))))))
        ;; l where a > 0, else u
        (local.set $coef (v128.bitselect (local.get $lv) (local.get $uv)
          (f32x4.gt (local.get $x) (v128.const f32x4 0 0 0 0))))
        (local.set $coef (f32x4.mul (local.get $coef) (local.get $wv)))
        (local.set $lv (f32x4.mul (f32x4.pmax (v128.const f32x4 0 0 0 0) (local.get $x)) (local.get $wv)))
        (local.set $uv (f32x4.mul (f32x4.pmin (v128.const f32x4 0 0 0 0) (local.get $x)) (local.get $wv)))
        (if (local.get $lane)
          (then
            (f32.store (i32.add (local.get $da) (local.get $o)) (f32.add
              (f32.load (i32.add (local.get $da) (local.get $o))) (f32x4.extract_lane 0 (local.get $coef))))
            (f32.store (i32.add (local.get $dl) (local.get $o)) (f32.add
              (f32.load (i32.add (local.get $dl) (local.get $o))) (f32x4.extract_lane 0 (local.get $lv))))
            (f32.store (i32.add (local.get $du) (local.get $o)) (f32.add
              (f32.load (i32.add (local.get $du) (local.get $o))) (f32x4.extract_lane 0 (local.get $uv))))
            (local.set $i (i32.add (local.get $i) (i32.const 1))))
          (else
            (v128.store (i32.add (local.get $da) (local.get $o))
              (f32x4.add (v128.load (i32.add (local.get $da) (local.get $o))) (local.get $coef)))
            (v128.store (i32.add (local.get $dl) (local.get $o))
              (f32x4.add (v128.load (i32.add (local.get $dl) (local.get $o))) (local.get $lv)))
            (v128.store (i32.add (local.get $du) (local.get $o))
              (f32x4.add (v128.load (i32.add (local.get $du) (local.get $o))) (local.get $uv)))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))))
        (br $simd))))

  ;; out[c] = src[idx[c]] for c < k (int32 indices; a copy of bits).
  (func (export "gatherRow") (param $src i32) (param $idx i32) (param $k i32) (param $out i32)
    (local $c i32)
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $c) (local.get $k)))
        (i32.store (i32.add (local.get $out) (i32.shl (local.get $c) (i32.const 2)))
          (i32.load (i32.add (local.get $src)
            (i32.shl (i32.load (i32.add (local.get $idx) (i32.shl (local.get $c) (i32.const 2)))) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $copy))))

  ;; out[0 … n) = 0, then out[idx[c]] = src[c] for c < k.
  (func (export "scatterRow") (param $src i32) (param $idx i32) (param $k i32) (param $out i32) (param $n i32)
    (local $c i32)
    (memory.fill (local.get $out) (i32.const 0) (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $copy
        (br_if $done (i32.ge_u (local.get $c) (local.get $k)))
        (i32.store (i32.add (local.get $out)
            (i32.shl (i32.load (i32.add (local.get $idx) (i32.shl (local.get $c) (i32.const 2)))) (i32.const 2)))
          (i32.load (i32.add (local.get $src) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $copy))))
)
