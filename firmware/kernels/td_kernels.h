/* tinydeploy int8 kernel library: one function per operator and variant, plain C99.
 * Shapes are NHWC with batch 1 folded away unless stated; every parameter a kernel needs is
 * computed at compile time by the tinydeploy compiler and stored in a const struct in flash. */
#ifndef TD_KERNELS_H
#define TD_KERNELS_H
#include <stdint.h>

typedef struct {
    int16_t in_h, in_w, in_c, out_h, out_w, out_c;
    int16_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int16_t depth_multiplier;          /* depthwise only */
    int32_t input_offset, output_offset, act_min, act_max;
    const int32_t *mult;               /* per output channel */
    const int32_t *shift;
    /* bias + input_offset * (sum of the channel's weights): lets windows that lie wholly inside
     * the input skip the offset and run as plain int8 dot products */
    const int32_t *bias_folded;
    const int32_t *rq;                 /* fast requantization records (td_quant.h), or 0 */
    int8_t *scratch;                   /* arena space while the kernel runs (see each kernel) */
    int16_t ring_rows;                 /* rows in the kernel's ring of rows, 0 for none */
    int16_t layout;                    /* conv weights (td_matmul.h): TD_W8, TD_W16 or TD_ROWS */
    /* conv with TD_W16 weights and fast records: 1 takes output pixels four at a time, with a
     * quad buffer of 8 bytes per window value in the scratch instead of pairs' 4 */
    int16_t quads;
} td_conv_params;

#define TD_DW_MAX_K 16                 /* kernel height limit of td_depthwise_conv2d_s8 */

/* Weight layouts of convolutions and fully connected layers (tinydeploy/weight_layout.py) */
#define TD_W8 0                        /* int8 blocks of rows, SXTB16 order */
#define TD_W16 1                       /* the same blocks pre-widened to int16 */
#define TD_ROWS 2                      /* int8 rows one after another (Helium) */

typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t input_offset, filter_offset, output_offset, act_min, act_max;
    const int32_t *mult;               /* one entry, or one per output when per-channel */
    const int32_t *shift;
    int32_t per_channel;
    /* bias + input_offset * row sums, and weights in the td_matmul.h layout; 0 when
     * filter_offset != 0 (weights then stay [out_depth, in_depth]) */
    const int32_t *bias_folded;
    const int32_t *rq;                 /* fast requantization records (td_quant.h), or 0 */
    int32_t layout;                    /* weights (td_matmul.h): TD_W8, TD_W16 or TD_ROWS */
    /* TD_W16: 1 widens each input row once into the scratch (2 bytes per value of its whole
     * groups of four) for td_mm_4x1_w16x */
    int32_t wide_input;
    int8_t *scratch;
} td_fc_params;

typedef struct {
    int16_t in_h, in_w, c, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} td_pool_params;

typedef struct {
    int32_t outer, depth, input_multiplier, input_left_shift, diff_min;
} td_softmax_params;

/* Element-wise binary ops broadcast over 4-D shapes: strides are 0 along broadcast dimensions. */
typedef struct {
    int32_t out_dims[4];
    int32_t in1_strides[4], in2_strides[4];
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift, input1_multiplier, input1_shift, input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift, act_min, act_max;
    /* ADD: each input's rescaled value per int8 value (256 entries, indexed by the byte), and the
     * output's fast requantization record (td_quant.h) or 0 */
    const int32_t *table1, *table2, *out_rq;
} td_binary_params;

typedef struct {
    int32_t in_dims[4], out_dims[4], before[4];
    int8_t pad_value;
} td_pad_params;

typedef struct {
    int32_t outer, inner_out;          /* outer repeats; output row length in elements */
    int32_t n_inputs;
    const int32_t *inner;              /* each input's row length */
} td_concat_params;

typedef struct {
    int32_t size, zero_point;
    float scale;
} td_affine_params;

typedef struct {
    int32_t size, input_zero_point, output_zero_point, multiplier, shift, act_min, act_max;
} td_requant_params;

typedef struct {
    int32_t size;
    const int8_t *table;               /* 256 entries, indexed by the input byte as uint8 */
} td_lut_params;

typedef struct {
    int32_t size, input_zero_point, output_zero_point;
    int16_t reluish_multiplier, output_multiplier;
    int32_t reluish_exponent, output_exponent;
} td_hard_swish_params;

/* MEAN over any of 4 dimensions (reduce[d] != 0 marks a reduced dimension). */
typedef struct {
    int32_t dims[4], reduce[4], count;
    int32_t input_zero_point, output_zero_point, multiplier, shift;
} td_mean_params;

void td_conv2d_s8(const td_conv_params *p, const int8_t *in, const void *w,
                  const int32_t *bias, int8_t *out);
void td_conv1x1_s8(const td_conv_params *p, const int8_t *in, const void *w,
                   const int32_t *bias, int8_t *out);
void td_depthwise_conv2d_s8(const td_conv_params *p, const int8_t *in, const void *w,
                            const int32_t *bias, int8_t *out);
void td_depthwise_conv3x3_s8(const td_conv_params *p, const int8_t *in, const void *w,
                             const int32_t *bias, int8_t *out);
void td_depthwise_conv2d_dm_s8(const td_conv_params *p, const int8_t *in, const void *w,
                               const int32_t *bias, int8_t *out);
void td_fully_connected_s8(const td_fc_params *p, const int8_t *in, const void *w,
                           const int32_t *bias, int8_t *out);
void td_avg_pool_s8(const td_pool_params *p, const int8_t *in, int8_t *out);
void td_max_pool_s8(const td_pool_params *p, const int8_t *in, int8_t *out);
void td_softmax_s8(const td_softmax_params *p, const int8_t *in, int8_t *out);
void td_add_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void td_mul_s8(const td_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void td_pad_s8(const td_pad_params *p, const int8_t *in, int8_t *out);
void td_concat_s8(const td_concat_params *p, const int8_t *const *ins, int8_t *out);
void td_quantize_f32_s8(const td_affine_params *p, const float *in, int8_t *out);
void td_dequantize_s8_f32(const td_affine_params *p, const int8_t *in, float *out);
void td_requantize_s8(const td_requant_params *p, const int8_t *in, int8_t *out);
void td_lut_s8(const td_lut_params *p, const int8_t *in, int8_t *out);
void td_hard_swish_s8(const td_hard_swish_params *p, const int8_t *in, int8_t *out);
void td_mean_s8(const td_mean_params *p, const int8_t *in, int8_t *out);
#endif
