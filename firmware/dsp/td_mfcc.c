/* MFCC front end in float32: periodic Hann window, 512-point real FFT magnitude, 40 HTK mel
 * filters (20-4000 Hz), natural log of (energy + 1e-6), DCT-II scaled by sqrt(2/40), 10
 * coefficients; the definition of tinydeploy.audio, whose numpy version (double precision) the
 * training uses.
 *
 * The 512-point real FFT runs as a 256-point complex FFT of the even/odd sample pairs followed by
 * a split step (the approach of CMSIS-DSP's arm_rfft_fast_f32). The complex FFT is radix-4,
 * decimation in frequency: its first stage reads the int16 frame and applies the window itself
 * (the zero padding from 480 to 512 samples is never stored), and its output stays in base-4
 * digit-reversed order, which the split step reads through a table. Only the FFT bins the mel
 * filters use are split and measured. Every constant is generated in Python
 * (tinydeploy.audio.c_tables() -> td_mfcc_tables.h). */
/* Fused multiply-adds are welcome here (the firmware builds with -ffp-contract=off so that the
 * model's float kernels round as the reference does): the features are compared with the numpy
 * front end within one int8 step, never bit for bit, and a fused FFT and DCT save a quarter of
 * the front end's instructions on cores with an FPU. */
#pragma GCC optimize("fp-contract=fast")
#include <math.h>
#include "td_mfcc.h"
#include "td_mfcc_tables.h"

#define HALF (TD_MFCC_FFT / 2)   /* complex points */
#define Q (HALF / 4)

/* Radix-4 decimation-in-frequency butterfly on points a, b, c, d (re/im pairs) with the inputs
 * given as values: a gets the sum, b, c, d the outputs for q = 1, 2, 3, each multiplied by its
 * twiddle exp(-2 pi i q j / L) = (cos, -sin) unless `plain`. */
#define BUTTERFLY(a, b, c, d, ar, ai, br, bi, cr, ci, dr, di, plain, c1, s1, c2, s2, c3, s3) do { \
    const float t0r = (ar) + (cr), t0i = (ai) + (ci), t1r = (ar) - (cr), t1i = (ai) - (ci);     \
    const float t2r = (br) + (dr), t2i = (bi) + (di);                                         \
    const float t3r = (bi) - (di), t3i = (dr) - (br);             /* -i (b - d) */           \
    const float y1r = t1r + t3r, y1i = t1i + t3i, y2r = t0r - t2r, y2i = t0i - t2i;           \
    const float y3r = t1r - t3r, y3i = t1i - t3i;                                             \
    (a)[0] = t0r + t2r;                                                                       \
    (a)[1] = t0i + t2i;                                                                       \
    if (plain) {                                                                              \
        (b)[0] = y1r; (b)[1] = y1i; (c)[0] = y2r; (c)[1] = y2i; (d)[0] = y3r; (d)[1] = y3i;   \
    } else {                                                                                  \
        (b)[0] = y1r * (c1) + y1i * (s1); (b)[1] = y1i * (c1) - y1r * (s1);                   \
        (c)[0] = y2r * (c2) + y2i * (s2); (c)[1] = y2i * (c2) - y2r * (s2);                   \
        (d)[0] = y3r * (c3) + y3i * (s3); (d)[1] = y3i * (c3) - y3r * (s3);                   \
    }                                                                                         \
} while (0)

#define TWIDDLES(t) const float c1 = td_mfcc_tw_cos[t], s1 = td_mfcc_tw_sin[t],                \
    c2 = td_mfcc_tw_cos[2 * (t)], s2 = td_mfcc_tw_sin[2 * (t)],                               \
    c3 = td_mfcc_tw_cos[3 * (t)], s3 = td_mfcc_tw_sin[3 * (t)]

/* The first stage (L = 256) straight from the frame: point n is samples 2n and 2n + 1, windowed
 * and scaled; point j + 3Q lies past the 480 samples (zero padding) from j = LIVE_D on. */
#define LIVE_D ((TD_MFCC_FRAME - 6 * Q) / 2)
static void first_stage(const int16_t *x, float *z) {
    const float *w = td_mfcc_window;
    for (int j = 0; j < Q; ++j) {
        TWIDDLES(j);
        const int a = 2 * j, b = a + 2 * Q, c = b + 2 * Q, d = c + 2 * Q;
        const float ar = (float)x[a] * w[a], ai = (float)x[a + 1] * w[a + 1];
        const float br = (float)x[b] * w[b], bi = (float)x[b + 1] * w[b + 1];
        const float cr = (float)x[c] * w[c], ci = (float)x[c + 1] * w[c + 1];
        if (j < LIVE_D) {
            const float dr = (float)x[d] * w[d], di = (float)x[d + 1] * w[d + 1];
            BUTTERFLY(z + a, z + b, z + c, z + d, ar, ai, br, bi, cr, ci, dr, di, 0,
                      c1, s1, c2, s2, c3, s3);
        } else {
            BUTTERFLY(z + a, z + b, z + c, z + d, ar, ai, br, bi, cr, ci, 0.0f, 0.0f, 0,
                      c1, s1, c2, s2, c3, s3);
        }
    }
}

/* The 256-point FFT of the windowed frame's sample pairs, in digit-reversed order. */
static void fft_frame(const int16_t *x, float *z) {
    first_stage(x, z);
    /* middle stages: groups of L points, twiddle step HALF / L; one twiddle set per j */
    for (int len = Q, step = 4; len > 4; len /= 4, step *= 4) {
        const int q = len / 4;
        for (int j = 0; j < q; ++j) {
            TWIDDLES(j * step);
            for (float *a = z + 2 * j; a < z + 2 * HALF; a += 2 * len) {
                float *b = a + 2 * q, *c = b + 2 * q, *d = c + 2 * q;
                BUTTERFLY(a, b, c, d, a[0], a[1], b[0], b[1], c[0], c[1], d[0], d[1], 0,
                          c1, s1, c2, s2, c3, s3);
            }
        }
    }
    /* last stage (L = 4): no twiddles */
    for (float *a = z; a < z + 2 * HALF; a += 8)
        BUTTERFLY(a, a + 2, a + 4, a + 6, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], 1,
                  0, 0, 0, 0, 0, 0);
}

/* Square root of a non-negative value: the FPU's VSQRT alone where there is one (sqrtf adds a
 * check for negative arguments that cannot occur here). */
static inline float sqrt_pos(float x) {
#if defined(__ARM_FP) && (__ARM_FP & 4)
    float r;
    __asm__("vsqrt.f32 %0, %1" : "=t"(r) : "t"(x));
    return r;
#else
    return sqrtf(x);
#endif
}

/* Natural log for the positive, finite energies here: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * log m = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9 (the next term
 * is below 2e-9): within a few float32 roundings of logf, at a fraction of its cost. */
static float log_pos(float x) {
    union { float f; uint32_t u; } v = {x};
    int32_t e = (int32_t)(v.u >> 23) - 127;
    v.u = (v.u & 0x007fffffu) | 0x3f800000u;      /* m in [1, 2) */
    if (v.f > 1.41421356f) { v.f *= 0.5f; ++e; }
    const float s = (v.f - 1.0f) / (v.f + 1.0f), s2 = s * s;
    const float p = 2.0f + s2 * (0.666666667f + s2 * (0.4f + s2 * (0.285714286f
                                                                 + s2 * 0.222222222f)));
    return (float)e * 0.693147181f + s * p;
}

void td_mfcc_frame(const int16_t *frame, float *out) {
    static float z[2 * HALF];
    float mag[TD_MFCC_BINS], logmel[TD_MFCC_MELS];
    fft_frame(frame, z);
    /* split: X[k] = E[k] + W^k O[k], E and O the spectra of the even and odd samples, from
     * a = Z[k] and b = conj(Z[HALF - k]): 2E = a + b, 2O = -i (a - b); the halving is left to
     * the magnitude */
    for (int k = TD_MFCC_FIRST_BIN; k < TD_MFCC_BINS; ++k) {
        const float *za = z + 2 * td_mfcc_digit_rev[k], *zb = z + 2 * td_mfcc_digit_rev[HALF - k];
        const float sr = za[0] + zb[0], si = za[1] - zb[1];      /* 2E */
        const float orr = za[1] + zb[1], oi = zb[0] - za[0];     /* 2O */
        const float c = td_mfcc_split_cos[k], s = td_mfcc_split_sin[k];
        const float xr = sr + c * orr + s * oi, xi = si + c * oi - s * orr;
        mag[k] = 0.5f * sqrt_pos(xr * xr + xi * xi);
    }
    for (int m = 0; m < TD_MFCC_MELS; ++m) {
        const float *w = td_mfcc_weights + td_mfcc_wstart[m];
        const float *x = mag + td_mfcc_bin0[m];
        float e = 0.0f;
        for (int k = 0; k < td_mfcc_count[m]; ++k) e += x[k] * w[k];
        logmel[m] = log_pos(e + TD_MFCC_LOG_FLOOR);
    }
    /* DCT-II: cos(pi/M (M-1-n+1/2) k) = (-1)^k cos(pi/M (n+1/2) k), so even coefficients take
     * sums of mirrored bands and odd ones differences: half the multiplies, and the
     * coefficients accumulate side by side (the table's rows are contiguous) */
    float acc[TD_MFCC_COEFFS] = {0};
    for (int n = 0; n < TD_MFCC_MELS / 2; ++n) {
        const float sum = logmel[n] + logmel[TD_MFCC_MELS - 1 - n];
        const float diff = logmel[n] - logmel[TD_MFCC_MELS - 1 - n];
        const float *row = td_mfcc_dct + n * TD_MFCC_COEFFS;
#pragma GCC unroll 16
        for (int c = 0; c < TD_MFCC_COEFFS; c += 2) {
            acc[c] += sum * row[c];
            acc[c + 1] += diff * row[c + 1];
        }
    }
    for (int c = 0; c < TD_MFCC_COEFFS; ++c) out[c] = acc[c];
}

void td_mfcc_frame_s8(const int16_t *frame, float scale, int32_t zero_point, int8_t *out) {
    float row[TD_MFCC_COEFFS];
    td_mfcc_frame(frame, row);
    for (int c = 0; c < TD_MFCC_COEFFS; ++c) {
        const float q = row[c] / scale;
        /* round half away from zero: truncating a non-negative float is floor; clamp first so
         * the conversion cannot overflow */
        const float r = q >= 0 ? (q < 1000.0f ? q : 1000.0f) + 0.5f
                               : (q > -1000.0f ? q : -1000.0f) - 0.5f;
        const int32_t v = (int32_t)r + zero_point;
        out[c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
    }
}

void td_mfcc(const int16_t *audio, int32_t samples, float *out) {
    for (int32_t f = 0; f < 1 + (samples - TD_MFCC_FRAME) / TD_MFCC_HOP; ++f)
        td_mfcc_frame(audio + f * TD_MFCC_HOP, out + f * TD_MFCC_COEFFS);
}

void td_mfcc_s8(const int16_t *audio, int32_t samples, float scale, int32_t zero_point,
                int8_t *out) {
    for (int32_t f = 0; f < 1 + (samples - TD_MFCC_FRAME) / TD_MFCC_HOP; ++f)
        td_mfcc_frame_s8(audio + f * TD_MFCC_HOP, scale, zero_point, out + f * TD_MFCC_COEFFS);
}
