/* tinydeploy device firmware: the MLPerf Tiny device-under-test protocol plus tinydeploy's own
 * commands (raw int8 outputs, exact tick counts, per-layer profile, memory figures).
 *
 * Host -> device: a command ending in '%'. Device -> host: lines ending "\r\n"; every answer ends
 * with "m-ready". tinydeploy's own commands start with "td-". */
#include <stdint.h>
#include <string.h>

#include "board_config.h"
#include "td_hal.h"
#include "td_model.h"
#if TD_AUDIO_FRONTEND
#include "td_mfcc.h"
#endif

#define CMD_MAX 160

static uint8_t db[TD_MODEL_INPUT0_BYTES > 0 ? TD_MODEL_INPUT0_BYTES : 1];
static uint32_t db_expected, db_count;
static uint64_t layer_ticks[TD_MODEL_NUM_LAYERS > 0 ? TD_MODEL_NUM_LAYERS : 1];
static uint64_t layer_start;

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

static void put_hex8(uint8_t b) {
    static const char digits[] = "0123456789abcdef";
    td_uart_putc(digits[b >> 4]);
    td_uart_putc(digits[b & 15u]);
}

/* A float with three decimals, as the MLPerf runner expects in m-results. */
static void put_fixed3(float f) {
    int64_t milli = (int64_t)(f * 1000.0f + (f >= 0 ? 0.5f : -0.5f));
    if (milli < 0) { td_uart_putc('-'); milli = -milli; }
    put_u64((uint64_t)(milli / 1000));
    td_uart_putc('.');
    int32_t frac = (int32_t)(milli % 1000);
    td_uart_putc((char)('0' + frac / 100));
    td_uart_putc((char)('0' + (frac / 10) % 10));
    td_uart_putc((char)('0' + frac % 10));
}

static uint32_t ticks_to_us(uint64_t ticks) {
    return (uint32_t)(ticks * 1000000u / TD_TIMER_HZ);
}

/* ---- parsing ---- */
static int parse_u32(const char *s, uint32_t *out) {
    uint32_t v = 0;
    if (!*s) return 0;
    for (; *s; ++s) {
        if (*s < '0' || *s > '9') return 0;
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

/* Appends "xxyy..." hex bytes to buf; answers done_line when `expected` bytes have arrived. */
static void append_hex(const char *args, uint8_t *buf, uint32_t *count, uint32_t expected,
                       const char *what, const char *done_line) {
    for (const char *p = args; p[0] && p[1]; p += 2) {
        int hi = hex_val(p[0]), lo = hex_val(p[1]);
        if (hi < 0 || lo < 0) { put_str("e-["); put_str(what); put_line(": bad hex]"); return; }
        if (*count >= expected) {
            put_str("e-["); put_str(what); put_line(": more bytes than expected]");
            return;
        }
        buf[(*count)++] = (uint8_t)(hi * 16 + lo);
    }
    if (expected && *count == expected) put_line(done_line);
}

/* ---- model glue ---- */
void td_profile_mark(int layer) {
    uint64_t now = td_timer_now();
    layer_ticks[layer] = now - layer_start;
    layer_start = now;
}

/* Copies the db buffer into the model input, converting as the board's protocol asks. */
static void load_input(void) {
#if TD_INPUT_FORMAT_UINT8_MINUS_128
    int8_t *in = (int8_t *)td_model_input(0);
    for (uint32_t i = 0; i < TD_MODEL_INPUT0_BYTES; ++i) in[i] = (int8_t)(db[i] - 128);
#else
    memcpy(td_model_input(0), db, TD_MODEL_INPUT0_BYTES);
#endif
}

static uint64_t run_once(void) {
    load_input();
    uint64_t t0 = td_timer_now();
    layer_start = t0;
    td_model_invoke();
    return td_timer_now() - t0;
}

static float output_value(uint32_t i) {
#if TD_MODEL_OUTPUT0_IS_FLOAT
    return ((const float *)td_model_output(0))[i];
#else
    const int8_t *out = (const int8_t *)td_model_output(0);
    return ((float)out[i] - (float)TD_MODEL_OUTPUT0_ZERO_POINT) * TD_MODEL_OUTPUT0_SCALE;
#endif
}

static void print_results(void) {
    put_str("m-results-[");
    for (uint32_t i = 0; i < TD_MODEL_OUTPUT0_ELEMENTS; ++i) {
        if (i) td_uart_putc(',');
        put_fixed3(output_value(i));
    }
    put_line("]");
}

static void print_raw_output(void) {
    const uint8_t *out = (const uint8_t *)td_model_output(0);
    put_str("m-td-out-");
    for (uint32_t i = 0; i < TD_MODEL_OUTPUT0_BYTES; ++i) put_hex8(out[i]);
    put_str("\r\n");
}

/* ---- commands ---- */
static void cmd_db(char *args) {
    if (strncmp(args, "load ", 5) == 0) {
        uint32_t n;
        if (!parse_u32(args + 5, &n) || n != TD_MODEL_INPUT0_BYTES) {
            put_str("e-[db load expects ");
            put_u64(TD_MODEL_INPUT0_BYTES);
            put_line(" bytes]");
            return;
        }
        db_expected = n;
        db_count = 0;
        put_str("m-[Expecting ");
        put_u64(n);
        put_line(" bytes]");
    } else if (strcmp(args, "print") == 0) {
        for (uint32_t i = 0; i < db_count; ++i) {
            if (i % 8 == 0) put_str(i ? "\r\nm-buffer-" : "m-buffer-");
            else td_uart_putc('-');
            put_hex8(db[i]);
        }
        put_str("\r\n");
    } else {
        append_hex(args, db, &db_count, db_expected, "db", "m-load-done");
    }
}

static int input_ready(void) {
    if (db_expected && db_count == db_expected) return 1;
    put_line("e-[no input loaded: send db load N then db bytes]");
    return 0;
}

static void cmd_infer(char *args) {
    uint32_t n = 1, warm = 0;
    char *space = strchr(args, ' ');
    if (space) { *space = 0; if (!parse_u32(space + 1, &warm)) warm = 0; }
    if (*args && !parse_u32(args, &n)) n = 1;
    if (n == 0) n = 1;
    if (!input_ready()) return;
    put_str("m-warmup-start-"); put_u64(warm); put_str("\r\n");
    for (uint32_t i = 0; i < warm; ++i) run_once();
    put_line("m-warmup-done");
    put_str("m-infer-start-"); put_u64(n); put_str("\r\n");
    uint64_t t0 = td_timer_now();
    for (uint32_t i = 0; i < n; ++i) run_once();
    uint64_t t1 = td_timer_now();
    put_str("m-lap-us-"); put_u64(ticks_to_us(t0)); put_str("\r\n");
    put_str("m-lap-us-"); put_u64(ticks_to_us(t1)); put_str("\r\n");
    put_line("m-infer-done");
    print_results();
}

/* One timed inference: exact ticks, then the raw int8 output bytes. */
static void cmd_td_infer(void) {
    if (!input_ready()) return;
    uint64_t ticks = run_once();
    put_str("m-td-ticks-"); put_u64(ticks); put_str("\r\n");
    print_raw_output();
}

#if TD_AUDIO_FRONTEND
/* Raw audio in, features computed on the device: td-audio load N (samples), td-audio <hex of
 * little-endian int16>, then td-audio-infer (ticks cover features + inference). */
static int16_t audio_buf[TD_AUDIO_SAMPLES];
static uint32_t audio_expected, audio_bytes;

static void cmd_td_audio(char *args) {
    uint32_t n;
    if (strncmp(args, "load ", 5) == 0) {
        if (!parse_u32(args + 5, &n) || n != TD_AUDIO_SAMPLES) {
            put_str("e-[td-audio load expects ");
            put_u64(TD_AUDIO_SAMPLES);
            put_line(" samples]");
            return;
        }
        audio_expected = 2u * n;
        audio_bytes = 0;
        put_line("m-td-audio-expecting");
        return;
    }
    append_hex(args, (uint8_t *)audio_buf, &audio_bytes, audio_expected, "td-audio",
               "m-td-audio-done");
}

static void cmd_td_audio_infer(void) {
    if (!audio_expected || audio_bytes != audio_expected) {
        put_line("e-[no audio loaded: send td-audio load N then td-audio bytes]");
        return;
    }
    uint64_t t0 = td_timer_now();
    td_mfcc_s8(audio_buf, TD_AUDIO_SAMPLES, TD_MODEL_INPUT0_SCALE, TD_MODEL_INPUT0_ZERO_POINT,
               (int8_t *)td_model_input(0));
    uint64_t t1 = td_timer_now();
    layer_start = t1;
    td_model_invoke();
    uint64_t t2 = td_timer_now();
    put_str("m-td-feature-ticks-"); put_u64(t1 - t0); put_str("\r\n");
    put_str("m-td-ticks-"); put_u64(t2 - t1); put_str("\r\n");
    print_raw_output();
}
#endif

static void cmd_td_layers(void) {
    for (int i = 0; i < TD_MODEL_NUM_LAYERS; ++i) {
        put_str("m-td-layer-");
        put_i32(i);
        td_uart_putc('-');
        put_str(td_model_layer_name(i));
        td_uart_putc('-');
        put_u64(layer_ticks[i]);
        put_str("\r\n");
    }
}

static void cmd_td_info(void) {
    put_str("m-td-model-["); put_str(TD_MODEL_NAME); put_line("]");
    put_str("m-td-board-["); put_str(TD_BOARD_NAME); put_line("]");
    put_str("m-td-arena-"); put_u64(TD_MODEL_ARENA_BYTES); put_str("\r\n");
    put_str("m-td-input-bytes-"); put_u64(TD_MODEL_INPUT0_BYTES); put_str("\r\n");
    put_str("m-td-output-bytes-"); put_u64(TD_MODEL_OUTPUT0_BYTES); put_str("\r\n");
    put_str("m-td-layers-"); put_u64(TD_MODEL_NUM_LAYERS); put_str("\r\n");
    put_str("m-td-timer-hz-"); put_u64(TD_TIMER_HZ); put_str("\r\n");
    put_str("m-td-timer-["); put_str(TD_TIMER_KIND); put_line("]");
}

static void handle(char *cmd) {
    if (strcmp(cmd, "name") == 0) {
        put_line("m-name-dut-[tinydeploy]");
    } else if (strcmp(cmd, "profile") == 0) {
        put_line("m-profile-[ULPMark for tinyML Firmware V0.0.1]");
        put_str("m-model-["); put_str(TD_MODEL_NAME); put_line("]");
    } else if (strcmp(cmd, "timestamp") == 0) {
        put_str("m-lap-us-"); put_u64(ticks_to_us(td_timer_now())); put_str("\r\n");
    } else if (strncmp(cmd, "db ", 3) == 0) {
        cmd_db(cmd + 3);
    } else if (strcmp(cmd, "infer") == 0 || strncmp(cmd, "infer ", 6) == 0) {
        cmd_infer(cmd[5] ? cmd + 6 : cmd + 5);
    } else if (strcmp(cmd, "results") == 0) {
        print_results();
    } else if (strcmp(cmd, "td-infer") == 0) {
        cmd_td_infer();
    } else if (strcmp(cmd, "td-out") == 0) {
        print_raw_output();
    } else if (strcmp(cmd, "td-layers") == 0) {
        cmd_td_layers();
    } else if (strcmp(cmd, "td-info") == 0) {
        cmd_td_info();
#if TD_AUDIO_FRONTEND
    } else if (strncmp(cmd, "td-audio ", 9) == 0) {
        cmd_td_audio(cmd + 9);
    } else if (strcmp(cmd, "td-audio-infer") == 0) {
        cmd_td_audio_infer();
#endif
    } else if (strcmp(cmd, "td-exit") == 0) {
        put_line("m-ready");
        td_exit(0);
    } else {
        put_str("e-[Unknown command: ");
        put_str(cmd);
        put_line("]");
    }
    put_line("m-ready");
}

int main(void) {
    td_uart_init();
    td_timer_init();
    put_line("m-timestamp-mode-performance");
    put_str("m-lap-us-"); put_u64(ticks_to_us(td_timer_now())); put_str("\r\n");
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
