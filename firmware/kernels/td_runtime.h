/* What a compiled model exports beside `<prefix>_invoke`: a const descriptor with everything a
 * firmware, a host runner or a user's application needs to drive any model without its header
 * (sizes, the arena offsets and types of inputs and outputs, quantization, layer names).
 *
 * A model is reentrant: it keeps nothing in static memory. The caller owns two buffers,
 *   arena: arena_bytes, 16-byte aligned, activations and scratch (free between invocations);
 *   state: state_bytes, 16-byte aligned, what persists across invocations (SVDF/LSTM state,
 *          resource variables); reset(state) sets it to its initial value,
 * writes each input at arena + inputs[i].offset, calls invoke(arena, state) and reads each output
 * at arena + outputs[i].offset. */
#ifndef TD_RUNTIME_H
#define TD_RUNTIME_H
#include <stdint.h>

/* Tensor types (tinydeploy/qtype.py: QType.code) */
#define TD_TYPE_INT8 0
#define TD_TYPE_UINT8 1
#define TD_TYPE_INT16 2
#define TD_TYPE_INT32 3
#define TD_TYPE_FLOAT32 4
#define TD_TYPE_BOOL 5
#define TD_TYPE_INT64 6

#define TD_MAX_RANK 6

typedef struct {
    int32_t type;                      /* TD_TYPE_* */
    int32_t offset;                    /* byte offset in the arena */
    int32_t bytes, elements;
    float scale;                       /* quantized types; 0 where not quantized */
    int32_t zero_point;
    int32_t rank;
    int32_t dims[TD_MAX_RANK];
} td_io;

typedef struct {
    const char *name;
    int32_t arena_bytes, state_bytes;
    int32_t num_inputs, num_outputs;
    const td_io *inputs, *outputs;
    int32_t num_layers;                /* kernel calls, for per-layer profiles */
    const char *const *layer_names;
    void (*invoke)(int8_t *arena, int8_t *state);
    void (*reset)(int8_t *state);
} td_descriptor;

/* Debug builds (-DTD_CHECK_WRITES, firmware/kernels/td_check.c): after every kernel call the
 * arena and state are compared with a snapshot taken before it; a byte changed outside the
 * layer's output tensors and scratch aborts with the layer's name. */
typedef struct {
    int32_t region;                    /* 0 arena, 1 state */
    int32_t offset, bytes;
} td_write_range;

void td_check_begin(const int8_t *arena, int32_t arena_bytes, const int8_t *state,
                    int32_t state_bytes);
void td_check_end(const char *layer, const td_write_range *allowed, int32_t n);
#endif
