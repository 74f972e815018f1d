/* tinydeploy device firmware: the MLPerf Tiny device-under-test protocol (as the reference API in
 * mlcommons/tiny benchmark/api implements it) plus tinydeploy's own commands (raw outputs, exact
 * tick counts, per-layer profile, memory figures, several models).
 *
 * Host -> device: a command ending in '%', tokens separated by runs of spaces. Device -> host:
 * lines ending "\r\n"; every answer ends with "m-ready". tinydeploy's own commands start "td-".
 * The models come from td_models.c (a table of descriptors, td_runtime.h): one arena shared by all
 * (one runs at a time), a state region each. */
#include <stdint.h>
#include <string.h>

#include "board_config.h"
#include "td_hal.h"
#include "td_models.h"
#if TD_AUDIO_FRONTEND
#include "td_stream.h"
#endif

#if TD_AUDIO_FRONTEND
#define CMD_MAX 1320                   /* td-stream: a whole 20 ms hop (640 bytes) in hex */
#else
#define CMD_MAX 160
#endif
#define MAX_TOKENS 8
#define DEFAULT_WARMUP 10              /* the reference API's `infer` without W */

static int8_t arena[TD_ARENA_BYTES > 0 ? TD_ARENA_BYTES : 16] TD_ARENA_ATTR;
static int8_t state[TD_STATE_BYTES > 0 ? TD_STATE_BYTES : 16] TD_STATE_ATTR;
static uint8_t db[TD_DB_BYTES];
static uint32_t db_size, db_count;     /* `db load N` and the bytes received since */
static uint64_t layer_ticks[TD_MAX_LAYERS > 0 ? TD_MAX_LAYERS : 1];
static uint64_t layer_start;
static int current;                    /* the selected model (td-model N) */

#define MODEL (td_models[current])
#define MODEL_STATE (state + td_state_offsets[current])

/* ---- output helpers (no printf: keeps the firmware small and deterministic) ---- */
static void put_str(const char *s) { while (*s) td_uart_putc(*s++); }
static void put_line(const char *s) { put_str(s); put_str("\r\n"); }

static void put_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10u); v /= 10u; } while (v);
    put_str(buf + i);
}

static void put_i32(int32_t v) {
    if (v < 0) { td_uart_putc('-'); put_u64((uint64_t)(-(int64_t)v)); }
    else put_u64((uint64_t)v);
}

static void put_kv(const char *key, uint64_t v) { put_str(key); put_u64(v); put_str("\r\n"); }

static void put_hex8(uint8_t b) {
    static const char digits[] = "0123456789abcdef";
    td_uart_putc(digits[b >> 4]);
    td_uart_putc(digits[b & 15u]);
}

/* A float with three decimals, truncated toward zero as the reference API's results print. */
static void put_fixed3(float f) {
    if (f != f) { put_str("nan"); return; }
    if (f < 0) { td_uart_putc('-'); f = -f; }
    if (f >= 4.0e9f) { put_str("inf"); return; }
    const uint32_t whole = (uint32_t)f;
    const uint32_t milli = (uint32_t)((f - (float)whole) * 1000.0f);
    put_u64(whole);
    td_uart_putc('.');
    td_uart_putc((char)('0' + milli / 100u % 10u));
    td_uart_putc((char)('0' + milli / 10u % 10u));
    td_uart_putc((char)('0' + milli % 10u));
}

/* Timer ticks to microseconds of the board's time model (TD_TIMER_HZ ticks per board second:
 * on QEMU boards one instruction counts as one cycle at the board's clock, as bench reports). */
static uint32_t ticks_to_us(uint64_t ticks) {
    return (uint32_t)(ticks * 1000000u / TD_TIMER_HZ);
}

static void put_lap(void) { put_kv("m-lap-us-", ticks_to_us(td_timer_now())); }

/* ---- parsing ---- */
static int parse_u32(const char *s, uint32_t *out) {
    uint32_t v = 0;
    if (!*s) return 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9' || v > 429496728u) return 0;
        v = v * 10u + (uint32_t)(*s - '0');
    }
    *out = v;
    return 1;
}

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Splits cmd in place on runs of spaces; returns the number of tokens. */
static int tokenize(char *cmd, char **tok) {
    int n = 0;
    for (char *p = cmd; *p && n < MAX_TOKENS;) {
        while (*p == ' ') *p++ = 0;
        if (!*p) break;
        tok[n++] = p;
        while (*p && *p != ' ') ++p;
    }
    return n;
}

/* ---- model glue ---- */
void td_profile_mark(int layer) {
    uint64_t now = td_timer_now();
    layer_ticks[layer] = now - layer_start;
    layer_start = now;
}

static uint32_t input_bytes(void) {
    uint32_t n = 0;
    for (int32_t k = 0; k < MODEL->num_inputs; ++k) n += (uint32_t)MODEL->inputs[k].bytes;
    return n;
}

/* The db buffer into the model's inputs, one after another; int8 inputs arrive as uint8 on the
 * boards that take MLPerf's image convention (TD_INPUT_FORMAT_UINT8_MINUS_128). */
static void load_input(void) {
    uint32_t at = 0;
    for (int32_t k = 0; k < MODEL->num_inputs; ++k) {
        const td_io *io = &MODEL->inputs[k];
        int8_t *dst = arena + io->offset;
        uint32_t n = (uint32_t)io->bytes;
        if (at + n > db_count) n = at < db_count ? db_count - at : 0;
        memcpy(dst, db + at, n);
#if TD_INPUT_FORMAT_UINT8_MINUS_128
        if (io->type == TD_TYPE_INT8)
            for (uint32_t i = 0; i < n; ++i) dst[i] = (int8_t)(db[at + i] - 128);
#endif
        at += (uint32_t)io->bytes;
    }
}

static void invoke(void) {
    layer_start = td_timer_now();
    MODEL->invoke(arena, MODEL_STATE);
}

static uint64_t run_once(void) {
    load_input();
    uint64_t t0 = td_timer_now();
    invoke();
    return td_timer_now() - t0;
}

/* Output element i of output k as a float: dequantized where quantized. */
static float output_value(const td_io *io, uint32_t i) {
    const int8_t *p = arena + io->offset;
    switch (io->type) {
        case TD_TYPE_FLOAT32: { float v; memcpy(&v, p + 4 * i, 4); return v; }
        case TD_TYPE_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2);
                              return ((float)v - (float)io->zero_point) * io->scale; }
        case TD_TYPE_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return (float)v; }
        case TD_TYPE_UINT8: return ((float)(uint8_t)p[i] - (float)io->zero_point) * io->scale;
        case TD_TYPE_BOOL: return (float)(p[i] != 0);
        case TD_TYPE_INT8: return ((float)p[i] - (float)io->zero_point) * io->scale;
        default: return 0.0f;
    }
}

static void print_results(void) {
    put_str("m-results-[");
    int first = 1;
    for (int32_t k = 0; k < MODEL->num_outputs; ++k)
        for (int32_t i = 0; i < MODEL->outputs[k].elements; ++i) {
            if (!first) td_uart_putc(',');
            first = 0;
            put_fixed3(output_value(&MODEL->outputs[k], (uint32_t)i));
        }
    put_line("]");
}

/* Every output's raw bytes, one after another. */
static void print_raw_output(void) {
    put_str("m-td-out-");
    for (int32_t k = 0; k < MODEL->num_outputs; ++k) {
        const uint8_t *out = (const uint8_t *)(arena + MODEL->outputs[k].offset);
        for (int32_t i = 0; i < MODEL->outputs[k].bytes; ++i) put_hex8(out[i]);
    }
    put_str("\r\n");
}

/* ---- commands ---- */
static void cmd_help(void) {
    put_line("tinydeploy firmware (MLPerf Tiny device-under-test API)");
    put_line("help         : Print this information");
    put_line("name         : Print the name of the device");
    put_line("timestamp    : Generate a timestamp");
    put_line("db SUBCMD    : Manipulate a generic byte buffer");
    put_line("  load N     : Allocate N bytes and set load counter");
    put_line("  db HH[HH]* : Load 8-bit hex byte(s) until N bytes");
    put_line("  print      : Print the buffer as hex");
    put_line("infer N [W=10]: Load input, execute N inferences after W warmup loops");
    put_line("results      : Return the result fp32 vector");
    put_line("td-infer td-out td-layers td-info td-models td-model N td-reset td-exit");
#if TD_AUDIO_FRONTEND
    put_line("td-audio load N, td-audio HEX, td-audio-infer");
    put_line("td-stream start EVERY WINDOW THRESHOLD_PERMILLE REFRACTORY MASK, td-stream HEX");
#endif
}

static void cmd_db(char **tok, int n) {
    if (n < 2) { put_line("e-[Command 'db' requires a subcommand]"); return; }
    if (strcmp(tok[1], "load") == 0) {
        uint32_t size;
        if (n < 3) { put_line("e-[Command 'db load' requires the # of bytes]"); return; }
        if (!parse_u32(tok[2], &size) || size == 0) {
            put_line("e-[Command 'db load' must be >0 bytes]");
            return;
        }
        if (size > TD_DB_BYTES) {
            put_str("e-[Supplied buffer size "); put_u64(size);
            put_str(" exceeds maximum of "); put_u64(TD_DB_BYTES); put_line("]");
            return;
        }
        db_size = size;
        db_count = 0;
        put_str("m-[Expecting "); put_u64(size); put_line(" bytes]");
    } else if (strcmp(tok[1], "print") == 0) {
        for (uint32_t i = 0; i < db_size; ++i) {
            if (i % 8 == 0) put_str("m-buffer-");
            put_hex8(db[i]);
            put_str((i + 1) % 8 == 0 || i + 1 == db_size ? "\r\n" : "-");
        }
    } else {
        const char *hex = tok[1];
        const size_t digits = strlen(hex);
        if (digits & 1u) { put_line("e-[Insufficent number of hex digits]"); return; }
        for (size_t i = 0; i < digits; i += 2) {
            const int hi = hex_val(hex[i]), lo = hex_val(hex[i + 1]);
            if (hi < 0 || lo < 0) {
                put_str("e-[Invalid hex digit '"); td_uart_putc(hex[i]); td_uart_putc(hex[i + 1]);
                put_line("']");
                return;
            }
            if (db_count < db_size) db[db_count++] = (uint8_t)(hi * 16 + lo);
        }
        if (db_size && db_count == db_size) put_line("m-load-done");  /* the rest is ignored */
    }
}

static int input_ready(void) {
    if (db_size && db_count == db_size && db_count == input_bytes()) return 1;
    put_str("e-[no input loaded: send db load ");
    put_u64(input_bytes());
    put_line(" then db bytes]");
    return 0;
}

static void cmd_infer(char **tok, int n) {
    uint32_t count = 1, warm = DEFAULT_WARMUP;
    if (n >= 2 && (!parse_u32(tok[1], &count) || count == 0)) {
        put_line("e-[Inference iterations must be >0]");
        return;
    }
    if (n >= 3 && !parse_u32(tok[2], &warm)) {
        put_line("e-[Inference warmup must be >=0]");
        return;
    }
    load_input();
    put_kv("m-warmup-start-", warm);
    for (uint32_t i = 0; i < warm; ++i) invoke();
    put_line("m-warmup-done");
    put_kv("m-infer-start-", count);
    put_lap();
    for (uint32_t i = 0; i < count; ++i) invoke();
    put_lap();
    put_line("m-infer-done");
    print_results();
}

/* One timed inference: exact ticks, then the raw output bytes. */
static void cmd_td_infer(void) {
    if (!input_ready()) return;
    put_kv("m-td-ticks-", run_once());
    print_raw_output();
}

#if TD_AUDIO_FRONTEND
/* Raw audio in, features computed on the device hop by hop as the samples arrive (td_stream.h:
 * only the newest 20 ms frame is computed; the last 49 rows stay in a ring).
 *   td-audio load 16000, td-audio <hex of little-endian int16> ..., td-audio-infer: one clip;
 *     the ticks are the features' (summed over its hops) and the inference's.
 *   td-stream start EVERY WINDOW THRESHOLD_PERMILLE REFRACTORY IGNORE_MASK, then td-stream <hex>
 *     ...: always-on keyword spotting. Every completed hop answers m-td-hop-FEATURE-INFERENCE
 *     (ticks; inference 0 where none ran) and each detection m-td-detect-CLASS-PERMILLE-SAMPLE
 *     (SAMPLE: the samples taken in when it was made). */
static td_stream stream;
static int streaming;                  /* 1 after td-stream start, 0 for a td-audio clip */
static uint32_t audio_expected, audio_bytes;
static uint64_t audio_feature_ticks;
static int pending_byte = -1;          /* the low byte of a sample split between two commands */

static void stream_begin(const td_stream_config *cfg, int live) {
    td_stream_reset(&stream, cfg);
    streaming = live;
    audio_bytes = 0;
    audio_feature_ticks = 0;
    pending_byte = -1;
}

/* One completed frame: its row, and on due hops of a stream an inference and the detector. */
static void stream_hop(void) {
    const td_io *in = &MODEL->inputs[0];
    const uint64_t t0 = td_timer_now();
    td_stream_hop(&stream, in->scale, in->zero_point);
    const uint64_t feature = td_timer_now() - t0;
    audio_feature_ticks += feature;
    if (!streaming) return;
    uint64_t inference = 0;
    td_detection d = {-1, 0.0f};
    if (td_stream_due(&stream)) {
        const td_io *out = &MODEL->outputs[0];
        td_stream_input(&stream, arena + in->offset);
        const uint64_t t1 = td_timer_now();
        invoke();
        inference = td_timer_now() - t1;
        d = td_stream_decide(&stream, arena + out->offset, out->elements, out->scale,
                             out->zero_point);
    }
    put_str("m-td-hop-"); put_u64(feature); td_uart_putc('-'); put_u64(inference); put_str("\r\n");
    if (d.label >= 0) {
        put_str("m-td-detect-"); put_i32(d.label); td_uart_putc('-');
        put_u64((uint64_t)(d.score * 1000.0f + 0.5f)); td_uart_putc('-');
        put_u64(stream.consumed); put_str("\r\n");
    }
}

/* Hex of little-endian int16 samples into the stream, a hop at a time. */
static void feed_hex(const char *hex) {
    int16_t chunk[32];
    int32_t n = 0;
    for (const char *p = hex; p[0] && p[1]; p += 2) {
        const int hi = hex_val(p[0]), lo = hex_val(p[1]);
        if (hi < 0 || lo < 0) { put_line("e-[td-audio: bad hex]"); return; }
        if (!streaming && audio_bytes >= audio_expected) {
            put_line("e-[td-audio: more bytes than expected]");
            return;
        }
        ++audio_bytes;
        const int b = hi * 16 + lo;
        if (pending_byte < 0) { pending_byte = b; continue; }
        chunk[n++] = (int16_t)(uint16_t)((unsigned)pending_byte | (unsigned)b << 8);
        pending_byte = -1;
        if (n < 32 && p[2]) continue;
        for (int32_t at = 0, used; at < n; at += used)
            if (td_stream_push(&stream, chunk + at, n - at, &used)) stream_hop();
        n = 0;
    }
    for (int32_t at = 0, used; at < n; at += used)
        if (td_stream_push(&stream, chunk + at, n - at, &used)) stream_hop();
}

static void cmd_td_audio(char **tok, int n) {
    uint32_t samples;
    if (n >= 3 && strcmp(tok[1], "load") == 0) {
        if (!parse_u32(tok[2], &samples) || samples != TD_AUDIO_SAMPLES) {
            put_str("e-[td-audio load expects "); put_u64(TD_AUDIO_SAMPLES); put_line(" samples]");
            return;
        }
        const td_stream_config clip = {1, 1, 1.0f, 0, 0};
        stream_begin(&clip, 0);
        audio_expected = 2u * samples;
        put_line("m-td-audio-expecting");
        return;
    }
    if (streaming || !audio_expected) { put_line("e-[td-audio: send td-audio load N first]"); return; }
    feed_hex(n >= 2 ? tok[1] : "");
    if (audio_bytes == audio_expected) put_line("m-td-audio-done");
}

static void cmd_td_audio_infer(void) {
    if (streaming || !audio_expected || audio_bytes != audio_expected) {
        put_line("e-[no audio loaded: send td-audio load N then td-audio bytes]");
        return;
    }
    const td_io *in = &MODEL->inputs[0];
    td_stream_input(&stream, arena + in->offset);
    const uint64_t t0 = td_timer_now();
    invoke();
    const uint64_t t1 = td_timer_now();
    put_kv("m-td-feature-ticks-", audio_feature_ticks);
    put_kv("m-td-ticks-", t1 - t0);
    print_raw_output();
}

static void cmd_td_stream(char **tok, int n) {
    if (n >= 2 && strcmp(tok[1], "start") == 0) {
        uint32_t every, window, permille, refractory, mask;
        if (n < 7 || !parse_u32(tok[2], &every) || !parse_u32(tok[3], &window)
            || !parse_u32(tok[4], &permille) || !parse_u32(tok[5], &refractory)
            || !parse_u32(tok[6], &mask) || every == 0 || window == 0
            || window > TD_STREAM_MAX_WINDOW) {
            put_line("e-[td-stream start EVERY WINDOW(1-16) THRESHOLD_PERMILLE REFRACTORY MASK]");
            return;
        }
        if (MODEL->outputs[0].type != TD_TYPE_INT8
            || MODEL->outputs[0].elements > TD_STREAM_MAX_CLASSES) {
            put_line("e-[td-stream needs an int8 output of at most 32 classes]");
            return;
        }
        const td_stream_config cfg = {(int32_t)every, (int32_t)window, (float)permille / 1000.0f,
                                      (int32_t)refractory, mask};
        stream_begin(&cfg, 1);
        audio_expected = 0;
        put_line("m-td-stream-started");
        return;
    }
    if (!streaming) { put_line("e-[td-stream: send td-stream start first]"); return; }
    feed_hex(n >= 2 ? tok[1] : "");
}
#endif

static void cmd_td_layers(void) {
    for (int i = 0; i < MODEL->num_layers; ++i) {
        put_str("m-td-layer-");
        put_i32(i);
        td_uart_putc('-');
        put_str(MODEL->layer_names[i]);
        td_uart_putc('-');
        put_u64(layer_ticks[i]);
        put_str("\r\n");
    }
}

static void cmd_td_info(void) {
    uint32_t out_bytes = 0;
    for (int32_t k = 0; k < MODEL->num_outputs; ++k) out_bytes += (uint32_t)MODEL->outputs[k].bytes;
    put_str("m-td-model-["); put_str(MODEL->name); put_line("]");
    put_str("m-td-board-["); put_str(TD_BOARD_NAME); put_line("]");
    put_kv("m-td-arena-", (uint64_t)MODEL->arena_bytes);
    put_kv("m-td-state-", (uint64_t)MODEL->state_bytes);
    put_kv("m-td-input-bytes-", input_bytes());
    put_kv("m-td-output-bytes-", out_bytes);
    put_kv("m-td-inputs-", (uint64_t)MODEL->num_inputs);
    put_kv("m-td-outputs-", (uint64_t)MODEL->num_outputs);
    put_kv("m-td-layers-", (uint64_t)MODEL->num_layers);
    put_kv("m-td-models-", TD_NUM_MODELS);
    put_kv("m-td-timer-hz-", TD_TIMER_HZ);
    put_str("m-td-timer-["); put_str(TD_TIMER_KIND); put_line("]");
    put_kv("m-td-clock-hz-", TD_CLOCK_HZ);
    put_str("m-td-clock-["); put_str(td_clock_status()); put_line("]");
    put_str("m-td-clock-config-["); put_str(TD_CLOCK_CONFIG); put_line("]");
    put_kv("m-td-stack-bytes-", td_stack_size());
    put_kv("m-td-stack-used-", td_stack_used());
}

static void cmd_td_models(void) {
    for (int i = 0; i < TD_NUM_MODELS; ++i) {
        put_str("m-td-model-"); put_i32(i); put_str("-["); put_str(td_models[i]->name);
        put_line("]");
    }
}

static void cmd_td_model(char **tok, int n) {
    uint32_t k;
    if (n < 2 || !parse_u32(tok[1], &k) || k >= TD_NUM_MODELS) {
        put_str("e-[td-model takes a model number below "); put_u64(TD_NUM_MODELS); put_line("]");
        return;
    }
    current = (int)k;
    db_size = db_count = 0;
    put_str("m-td-model-["); put_str(MODEL->name); put_line("]");
}

static void handle(char *cmd) {
    char *tok[MAX_TOKENS];
    const int n = tokenize(cmd, tok);
    const char *c = n ? tok[0] : "";
    if (strcmp(c, "name") == 0) {
        put_line("m-name-dut-[tinydeploy]");
    } else if (strcmp(c, "profile") == 0) {
        put_line("m-profile-[ULPMark for tinyML Firmware V0.0.1]");
        put_str("m-model-["); put_str(MODEL->name); put_line("]");
    } else if (strcmp(c, "help") == 0) {
        cmd_help();
    } else if (strcmp(c, "timestamp") == 0) {
        put_lap();
    } else if (strcmp(c, "db") == 0) {
        cmd_db(tok, n);
    } else if (strcmp(c, "infer") == 0) {
        cmd_infer(tok, n);
    } else if (strcmp(c, "results") == 0) {
        print_results();
    } else if (strcmp(c, "td-infer") == 0) {
        cmd_td_infer();
    } else if (strcmp(c, "td-out") == 0) {
        print_raw_output();
    } else if (strcmp(c, "td-layers") == 0) {
        cmd_td_layers();
    } else if (strcmp(c, "td-info") == 0) {
        cmd_td_info();
    } else if (strcmp(c, "td-models") == 0) {
        cmd_td_models();
    } else if (strcmp(c, "td-model") == 0) {
        cmd_td_model(tok, n);
    } else if (strcmp(c, "td-reset") == 0) {
        MODEL->reset(MODEL_STATE);
#if TD_AUDIO_FRONTEND
    } else if (strcmp(c, "td-audio") == 0) {
        cmd_td_audio(tok, n);
    } else if (strcmp(c, "td-audio-infer") == 0) {
        cmd_td_audio_infer();
    } else if (strcmp(c, "td-stream") == 0) {
        cmd_td_stream(tok, n);
#endif
    } else if (strcmp(c, "td-exit") == 0) {
        put_line("m-ready");
        td_exit(0);
    } else {
        put_str("e-[Unknown command: ");
        put_str(c);
        put_line("]");
    }
    put_line("m-ready");
}

int main(void) {
    td_uart_init();
    td_timer_init();
    for (int i = 0; i < TD_NUM_MODELS; ++i) td_models[i]->reset(state + td_state_offsets[i]);
    put_line("m-timestamp-mode-performance");
    put_lap();
    put_line("m-init-done");
    put_line("m-ready");
    char cmd[CMD_MAX + 1];
    int len = 0, overflow = 0;
    for (;;) {
        int c = td_uart_getc();
        if (c == '%') {
            cmd[len] = 0;
            if (overflow) {
                put_line("e-[command too long]");
                put_line("m-ready");
            } else {
                handle(cmd);
            }
            len = 0;
            overflow = 0;
        } else if (c == '\r' || c == '\n') {
            continue;
        } else if (len < CMD_MAX) {
            cmd[len++] = (char)c;
        } else {
            overflow = 1;
        }
    }
}
