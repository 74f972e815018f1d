/* UNIDIRECTIONAL_SEQUENCE_LSTM, float32, as TFLite's reference float LSTM (lstm_eval's
 * LstmStepFloat), one batch row and time step after another (batches are independent):
 *
 *   gate  = bias + W_x x + W_h h [+ peephole .* c]     (each row's dot product, then added)
 *           [layer norm: (gate - mean) / sqrt(variance + 1e-8) .* coefficients + bias]
 *   i, f  = sigmoid(gate), g = act(gate)                (the input gate is 1 - f with CIFG)
 *   c     = f .* c + g .* i, clipped to +-cell_clip
 *   o     = sigmoid(gate), its peephole reading the new c
 *   h     = o .* act(c) [projected: bias + W_p (o .* act(c)), clipped to +-proj_clip]
 *
 * Constants live in one float array (p->w) at the offsets the parameters give. The hidden and
 * cell states are variable tensors, carried over between invocations. Scratch: the four gates. */
#include <math.h>
#include "td_kernels.h"
#include "td_wide.h"

int32_t td_lstm_f32_scratch(const td_lstm_f32_params *p) {
    return 4 * p->n_cell * (int32_t)sizeof(float);
}

/* out[r] += (the dot product of row r of m, n values, with v, in the reference's order) */
static void matvec_acc(const float *m, int32_t rows, int32_t n, const float *v, float *out) {
    for (int32_t r = 0; r < rows; ++r, m += n) out[r] += td_dot4_f32(m, v, n);
}

/* std::max(std::min(clip, v), -clip) */
static inline float clip_f32(float v, float clip) {
    const float m = v < clip ? v : clip;
    return m < -clip ? -clip : m;
}

static void gate_f32(const td_lstm_f32_params *p, int32_t g, const float *x, const float *h,
                     const float *c, float *gate) {
    const float *w = p->w;
    const int32_t n_cell = p->n_cell;
    for (int32_t i = 0; i < n_cell; ++i) gate[i] = p->layer_norm ? 0.0f : w[p->bias[g] + i];
    matvec_acc(w + p->w_in[g], n_cell, p->n_input, x, gate);
    matvec_acc(w + p->w_rec[g], n_cell, p->n_output, h, gate);
    if (p->peephole && g != TD_LSTM_CELL_GATE) {
        const float *peep = w + p->peep[g];
        for (int32_t i = 0; i < n_cell; ++i) gate[i] += peep[i] * c[i];
    }
    if (p->layer_norm) {
        float sum = 0.0f;
        for (int32_t i = 0; i < n_cell; ++i) sum += gate[i];
        const float mean = sum / (float)n_cell;
        float sum_sq = 0.0f;
        for (int32_t i = 0; i < n_cell; ++i) {
            const float d = gate[i] - mean;
            sum_sq += d * d;
        }
        const float variance = sum_sq / (float)n_cell;
        const float inv = 1.0f / sqrtf(variance + 1e-8f);
        const float *coef = w + p->ln[g], *bias = w + p->bias[g];
        for (int32_t i = 0; i < n_cell; ++i) gate[i] = (gate[i] - mean) * inv;
        for (int32_t i = 0; i < n_cell; ++i) gate[i] = coef[i] * gate[i];
        for (int32_t i = 0; i < n_cell; ++i) gate[i] += bias[i];
    }
    for (int32_t i = 0; i < n_cell; ++i)
        gate[i] = g == TD_LSTM_CELL_GATE ? td_activation_f32(p->activation, gate[i])
                                         : td_sigmoid_f32(gate[i]);
}

void td_lstm_f32(const td_lstm_f32_params *p, const float *in, float *out, float *output_state,
                 float *cell_state, void *scratch) {
    const int32_t n_cell = p->n_cell, n_output = p->n_output, n_input = p->n_input;
    float *gates = (float *)scratch;
    float *ig = gates, *fg = gates + n_cell, *cg = gates + 2 * n_cell, *og = gates + 3 * n_cell;
    const int cifg = !(p->gates & 1);
    for (int32_t b = 0; b < p->n_batch; ++b) {
        float *h = output_state + b * n_output, *c = cell_state + b * n_cell;
        for (int32_t t = 0; t < p->n_time; ++t) {
            const int32_t row = p->time_major ? t * p->n_batch + b : b * p->n_time + t;
            const float *x = in + row * n_input;
            if (!cifg) gate_f32(p, 0, x, h, c, ig);
            gate_f32(p, 1, x, h, c, fg);
            gate_f32(p, TD_LSTM_CELL_GATE, x, h, c, cg);
            for (int32_t i = 0; i < n_cell; ++i) c[i] = fg[i] * c[i];
            for (int32_t i = 0; i < n_cell; ++i) c[i] += cg[i] * (cifg ? 1.0f - fg[i] : ig[i]);
            if (p->cell_clip > 0.0f)
                for (int32_t i = 0; i < n_cell; ++i) c[i] = clip_f32(c[i], p->cell_clip);
            gate_f32(p, 3, x, h, c, og);
            /* the cell gate's buffer holds o .* act(c) */
            for (int32_t i = 0; i < n_cell; ++i)
                cg[i] = og[i] * td_activation_f32(p->activation, c[i]);
            if (p->projection) {
                for (int32_t k = 0; k < n_output; ++k)
                    h[k] = p->proj_bias ? p->w[p->b_proj + k] : 0.0f;
                matvec_acc(p->w + p->w_proj, n_output, n_cell, cg, h);
                if (p->proj_clip > 0.0f)
                    for (int32_t k = 0; k < n_output; ++k) h[k] = clip_f32(h[k], p->proj_clip);
            } else {
                for (int32_t k = 0; k < n_output; ++k) h[k] = cg[k];
            }
            float *y = out + row * n_output;
            for (int32_t k = 0; k < n_output; ++k) y[k] = h[k];
        }
    }
}
