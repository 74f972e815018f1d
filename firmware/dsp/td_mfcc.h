/* The audio front end on the device: the same MFCC definition as tinydeploy.audio, in C99 float32
 * (one frame costs a few ten thousand instructions on a Cortex-M4F's single-precision FPU). */
#ifndef TD_MFCC_H
#define TD_MFCC_H
#include <stdint.h>

#define TD_MFCC_FRAME_SAMPLES 480   /* 30 ms at 16 kHz */
#define TD_MFCC_HOP_SAMPLES 320     /* 20 ms */
#define TD_MFCC_NUM_COEFFS 10

/* The 10 MFCCs of one 480-sample frame of 16-bit audio. */
void td_mfcc_frame(const int16_t *frame, float *out);

/* The same, quantized to the model's int8 input (round half away from zero, clamp). */
void td_mfcc_frame_s8(const int16_t *frame, float scale, int32_t zero_point, int8_t *out);

/* MFCCs of a whole clip: 1 + (samples - 480) / 320 rows of 10 floats. */
void td_mfcc(const int16_t *audio, int32_t samples, float *out);

/* The same, quantized to int8. */
void td_mfcc_s8(const int16_t *audio, int32_t samples, float scale, int32_t zero_point,
                int8_t *out);
#endif
