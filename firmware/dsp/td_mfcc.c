/* MFCC front end in float32: periodic Hann window, 512-point real FFT magnitude, 40 HTK mel
 * filters (20-4000 Hz), natural log of (energy + 1e-6), DCT-II scaled by sqrt(2/40), 10
 * coefficients; the definition of tinydeploy.audio, whose numpy version (double precision) the
 * training uses. The 512-point real FFT runs as a 256-point complex FFT of the even/odd sample
 * pairs followed by a split step (the approach of CMSIS-DSP's arm_rfft_fast_f32), and only the
 * bins the mel filters read are split and measured. Every constant is generated in Python
 * (tinydeploy.audio.c_tables() -> td_mfcc_tables.h), so nothing is computed with sin/cos here. */
#include <math.h>
#include "td_mfcc.h"
#include "td_mfcc_tables.h"

#define HALF (TD_MFCC_FFT / 2)

/* In-place radix-2 decimation-in-time FFT of HALF complex points (re/im interleaved), input
 * already in bit-reversed order. */
static void fft_half(float *z) {
    for (int len = 2, step = HALF / 2; len <= HALF; len <<= 1, step >>= 1) {
        const int h = len / 2;
        for (int k = 0; k < h; ++k) {
            const float wr = td_mfcc_tw_cos[k * step], wi = -td_mfcc_tw_sin[k * step];
            for (int i = k; i < HALF; i += len) {
                float *a = z + 2 * i, *b = z + 2 * (i + h);
                const float tr = b[0] * wr - b[1] * wi, ti = b[0] * wi + b[1] * wr;
                b[0] = a[0] - tr;
                b[1] = a[1] - ti;
                a[0] += tr;
                a[1] += ti;
            }
        }
    }
}

void td_mfcc_frame(const int16_t *frame, float *out) {
    static float z[2 * HALF];
    float mag[TD_MFCC_BINS], logmel[TD_MFCC_MELS];
    /* sample pairs (2n, 2n+1) as one complex point, windowed and scaled, in bit-reversed order;
     * the frame is zero-padded from 480 to 512 samples */
    for (int n = 0; n < HALF; ++n) {
        float *p = z + 2 * td_mfcc_bitrev[n];
        if (2 * n + 1 < TD_MFCC_FRAME) {
            p[0] = (float)frame[2 * n] * td_mfcc_window[2 * n];
            p[1] = (float)frame[2 * n + 1] * td_mfcc_window[2 * n + 1];
        } else {
            p[0] = p[1] = 0.0f;
        }
    }
    fft_half(z);
    /* split: X[k] = E[k] + W^k O[k], E and O the spectra of the even and odd samples */
    for (int k = 0; k < TD_MFCC_BINS; ++k) {
        const int j = k == 0 ? 0 : HALF - k;
        const float ar = z[2 * k], ai = z[2 * k + 1], br = z[2 * j], bi = -z[2 * j + 1];  /* b = conj(Z[j]) */
        const float er = 0.5f * (ar + br), ei = 0.5f * (ai + bi);
        const float orr = 0.5f * (ai - bi), oi = -0.5f * (ar - br);
        const float c = td_mfcc_split_cos[k], s = td_mfcc_split_sin[k];
        const float xr = er + c * orr + s * oi, xi = ei + c * oi - s * orr;
        mag[k] = sqrtf(xr * xr + xi * xi);
    }
    for (int m = 0; m < TD_MFCC_MELS; ++m) {
        const float *w = td_mfcc_weights + td_mfcc_wstart[m];
        const float *x = mag + td_mfcc_bin0[m];
        float e = 0.0f;
        for (int k = 0; k < td_mfcc_count[m]; ++k) e += x[k] * w[k];
        logmel[m] = logf(e + TD_MFCC_LOG_FLOOR);
    }
    for (int c = 0; c < TD_MFCC_COEFFS; ++c) {
        float acc = 0.0f;
        for (int m = 0; m < TD_MFCC_MELS; ++m) acc += logmel[m] * td_mfcc_dct[m * TD_MFCC_COEFFS + c];
        out[c] = acc;
    }
}

void td_mfcc_frame_s8(const int16_t *frame, float scale, int32_t zero_point, int8_t *out) {
    float row[TD_MFCC_COEFFS];
    td_mfcc_frame(frame, row);
    for (int c = 0; c < TD_MFCC_COEFFS; ++c) {
        const float q = row[c] / scale;
        const int32_t v = (int32_t)(q >= 0 ? floorf(q + 0.5f) : -floorf(-q + 0.5f)) + zero_point;
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
