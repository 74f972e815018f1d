/* The few DSP-extension instructions the kernels use (Cortex-M4/M7/M33/M55: SXTB16, SMLAD,
 * SMLABB/SMLATT through ACLE's arm_acle.h, SMMUL/SMMULR/SMMLAR), with plain C equivalents for the
 * cores without it (Cortex-M0/M3) and the host. */
#ifndef TD_SIMD_H
#define TD_SIMD_H
#include <stdint.h>

#if defined(__ARM_FEATURE_SAT) && __ARM_FEATURE_SAT
#include <arm_acle.h>
#endif

#if defined(__GNUC__)
#define TD_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define TD_ALWAYS_INLINE inline
#endif

/* the DSP extension implies __ARM_FEATURE_SAT, so arm_acle.h is already included */
#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TD_DSP 1

/* Bytes 1 and 3 sign-extended to halfwords: SXTB16 with its built-in rotate (one instruction). */
static inline int32_t td_sxtb16_hi(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* (a * b + 2^31) >> 32: the rounded high word of a 32x32 product (one SMMULR). */
static inline int32_t td_smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* (a * b) >> 32: the high word of a 32x32 product (one SMMUL). */
static inline int32_t td_smmul(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* c + ((a * b + 2^31) >> 32): td_smmulr plus an addend, in one SMMLAR. */
static inline int32_t td_smmlar(int32_t a, int32_t b, int32_t c) {
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}

/* acc + bottom(a) * bottom(b) + top(a) * top(b), halves signed (one SMLAD). */
static inline int32_t td_smlad(int32_t a, int32_t b, int32_t acc) {
    return __smlad(a, b, acc);
}

static inline int32_t td_sxtb16(int32_t x) {
    return __sxtb16(x);
}
#else
static inline int32_t td_smlad(int32_t a, int32_t b, int32_t acc) {
    return acc + (int16_t)a * (int16_t)b + (a >> 16) * (b >> 16);
}

/* Bytes 0 and 2 sign-extended to halfwords. */
static inline int32_t td_sxtb16(int32_t x) {
    return (int32_t)(((uint32_t)(int8_t)(x >> 16) << 16) | (uint16_t)(int8_t)x);
}

static inline int32_t td_sxtb16_hi(int32_t x) {
    return td_sxtb16(x >> 8);
}

static inline int32_t td_smmulr(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}

static inline int32_t td_smmul(int32_t a, int32_t b) {
    return (int32_t)(((int64_t)a * b) >> 32);
}

static inline int32_t td_smmlar(int32_t a, int32_t b, int32_t c) {
    return c + td_smmulr(a, b);
}
#endif

/* (bottom(a), bottom(b)) and (top(a), top(b)) as halfword pairs (PKHBT, PKHTB). */
#ifdef TD_DSP
static inline int32_t td_pack_bottoms(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline int32_t td_pack_tops(int32_t a, int32_t b) {
    int32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
#else
static inline int32_t td_pack_bottoms(int32_t a, int32_t b) {
    return (int32_t)(((uint32_t)a & 0xFFFFu) | ((uint32_t)b << 16));
}

static inline int32_t td_pack_tops(int32_t a, int32_t b) {
    return (int32_t)(((uint32_t)a >> 16) | ((uint32_t)b & 0xFFFF0000u));
}
#endif
#endif
