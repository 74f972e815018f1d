/* CAST between int8, uint8, int16, int32, int64, float32 and bool (tinydeploy/ops/cast.py), with
 * LiteRT's rules: integers wrap, bool is != 0, floats truncate toward zero and saturate (NaN to
 * the maximum). Each value is loaded as an int64 or a float, then stored in the output type. */
#include "td_kernels.h"
#include "td_runtime.h"

/* The largest float not above the type's maximum (2^31 - 128 and 2^63 - 2^39 for the wide
 * types, whose maxima round up to a power of two as floats). */
#define F_MAX_I32 2147483520.0f
#define F_MAX_I64 9223371487098961920.0f

static int64_t sat_int(float v, int32_t type) {
    float lo, hi;
    int64_t lo_i, hi_i;
    switch (type) {
    case TD_TYPE_INT8: lo = -128.0f; hi = 127.0f; lo_i = -128; hi_i = 127; break;
    case TD_TYPE_UINT8: lo = 0.0f; hi = 255.0f; lo_i = 0; hi_i = 255; break;
    case TD_TYPE_INT16: lo = -32768.0f; hi = 32767.0f; lo_i = -32768; hi_i = 32767; break;
    case TD_TYPE_INT32:
        lo = -2147483648.0f; hi = F_MAX_I32; lo_i = INT32_MIN; hi_i = INT32_MAX; break;
    default:
        lo = -9223372036854775808.0f; hi = F_MAX_I64; lo_i = INT64_MIN; hi_i = INT64_MAX; break;
    }
    if (v != v) return hi_i;
    if (v < lo) return lo_i;
    if (v > hi) return hi_i;
    return type == TD_TYPE_INT64 ? (int64_t)v : (int64_t)(int32_t)v;
}

static void store_int(void *out, int32_t i, int32_t type, int64_t v) {
    switch (type) {
    case TD_TYPE_INT8: ((int8_t *)out)[i] = (int8_t)(uint8_t)(uint64_t)v; break;
    case TD_TYPE_UINT8: ((uint8_t *)out)[i] = (uint8_t)(uint64_t)v; break;
    case TD_TYPE_INT16: ((int16_t *)out)[i] = (int16_t)(uint16_t)(uint64_t)v; break;
    case TD_TYPE_INT32: ((int32_t *)out)[i] = (int32_t)(uint32_t)(uint64_t)v; break;
    case TD_TYPE_INT64: ((int64_t *)out)[i] = v; break;
    case TD_TYPE_BOOL: ((uint8_t *)out)[i] = v != 0; break;
    default: ((float *)out)[i] = (float)v; break;
    }
}

static int64_t load_int(const void *in, int32_t i, int32_t type) {
    switch (type) {
    case TD_TYPE_INT8: return ((const int8_t *)in)[i];
    case TD_TYPE_UINT8: return ((const uint8_t *)in)[i];
    case TD_TYPE_INT16: return ((const int16_t *)in)[i];
    case TD_TYPE_INT32: return ((const int32_t *)in)[i];
    case TD_TYPE_INT64: return ((const int64_t *)in)[i];
    default: return ((const uint8_t *)in)[i] != 0; /* bool */
    }
}

void td_cast(const td_cast_params *p, const void *in, void *out) {
    const int32_t n = p->count, to = p->out_type;
    if (p->in_type == TD_TYPE_FLOAT32) {
        const float *x = (const float *)in;
        for (int32_t i = 0; i < n; ++i) {
            const float v = x[i];
            if (to == TD_TYPE_FLOAT32) ((float *)out)[i] = v;
            else if (to == TD_TYPE_BOOL) ((uint8_t *)out)[i] = v != 0.0f;
            else store_int(out, i, to, sat_int(v, to));
        }
        return;
    }
    for (int32_t i = 0; i < n; ++i) store_int(out, i, to, load_int(in, i, p->in_type));
}
