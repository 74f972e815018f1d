/* The audio front end on the device: the same MFCC definition as tinydeploy.audio, in C99. */
#ifndef TD_MFCC_H
#define TD_MFCC_H
#include <stdint.h>

/* MFCCs of 16-bit audio at 16 kHz: frames = 1 + (samples - 480) / 320 rows of 10 floats. */
void td_mfcc(const int16_t *audio, int32_t samples, float *out);

/* The same, quantized to the model's int8 input (round half away from zero, clamp). */
void td_mfcc_s8(const int16_t *audio, int32_t samples, float scale, int32_t zero_point,
                int8_t *out);
#endif
