/* Board bring-up as data: the board file's steps (the chosen clock configuration's first: PLL,
 * flash wait states, voltage scaling, bus prescalers, the clock switch; then the common [[init]]
 * steps: clock gates, pin muxing) are rendered into board_config.h and executed here, in order,
 * before anything else.
 *
 * A wait gives up after TD_INIT_WAIT_LIMIT reads and td_clock_status() says which step failed,
 * over the UART. A clock step that gives up ends the clock set-up only: the common steps still
 * run, so the UART comes up, on the UART clock of the reset configuration (board files put every
 * wait that can fail before the writes that change the UART's kernel clock). A common step that
 * gives up ends the bring-up, since later steps assume it succeeded. */
#include <stdint.h>
#include "board_config.h"
#include "td_hal.h"

#define TD_INIT_WAIT_LIMIT 1000000u

enum { OP_WRITE = 0, OP_WAIT = 1, OP_END = 2, OP_DELAY = 3 };

typedef struct {
    uint8_t op;
    uint32_t addr, mask, value;
} td_init_step;

static const td_init_step steps[] = TD_INIT_STEPS;
static const char *const notes[] = TD_INIT_NOTES;
static const char *status = "ok";
static int clock_failed;

/* Runs one step; 0 when a wait gave up. */
static int run_step(const td_init_step *s) {
    volatile uint32_t *reg = (volatile uint32_t *)s->addr;
    if (s->op == OP_WRITE) {
        *reg = (*reg & ~s->mask) | (s->value & s->mask);
        return 1;
    }
    if (s->op == OP_DELAY) {
        for (volatile uint32_t i = 0; i < s->value; ++i) {}
        return 1;
    }
    for (uint32_t n = 0; n < TD_INIT_WAIT_LIMIT; ++n) {
        if ((*reg & s->mask) == s->value) return 1;
    }
    return 0;
}

#if TD_CORE_CACHES
/* Cortex-M7 L1 caches (Armv7-M ARM B2.2.7, the cache maintenance operations): invalidate the
 * instruction cache and every set and way of the data cache, then turn both on in CCR. */
#define SCB_CCR (*(volatile uint32_t *)0xE000ED14u)
#define SCB_CCSIDR (*(volatile uint32_t *)0xE000ED80u)
#define SCB_CSSELR (*(volatile uint32_t *)0xE000ED84u)
#define SCB_ICIALLU (*(volatile uint32_t *)0xE000EF50u)
#define SCB_DCISW (*(volatile uint32_t *)0xE000EF60u)

static void core_caches_on(void) {
    __asm volatile("dsb\n isb");
    SCB_ICIALLU = 0;
    SCB_CSSELR = 0;                                   /* level 1 data cache */
    __asm volatile("dsb");
    uint32_t ccsidr = SCB_CCSIDR;
    uint32_t sets = ((ccsidr >> 13) & 0x7FFFu) + 1u;
    uint32_t ways = ((ccsidr >> 3) & 0x3FFu) + 1u;
    uint32_t line_shift = (ccsidr & 7u) + 4u;         /* log2(bytes per line) */
    uint32_t way_shift = ways > 1u ? 32u - (uint32_t)__builtin_ctz(ways) : 0u;  /* 2^n ways */
    for (uint32_t set = 0; set < sets; ++set) {
        for (uint32_t way = 0; way < ways; ++way) {
            SCB_DCISW = (way << way_shift) | (set << line_shift);
        }
    }
    __asm volatile("dsb");
    SCB_CCR |= (1u << 17) | (1u << 16);               /* IC, DC */
    __asm volatile("dsb\n isb");
}
#endif

void td_board_init(void) {
    const td_init_step *s = steps;
    while (s->op != OP_END) {
        if (run_step(s)) {
            ++s;
            continue;
        }
        status = notes[s - steps];
        if (s - steps >= TD_CLOCK_STEPS) return;      /* later steps assume this one succeeded */
        clock_failed = 1;                             /* stay on the reset clock */
        s = steps + TD_CLOCK_STEPS;
    }
#if TD_CORE_CACHES
    if (!clock_failed) core_caches_on();
#endif
}

const char *td_clock_status(void) { return status; }

uint32_t td_uart_clock_hz(void) {
    return clock_failed ? TD_UART_CLOCK_HZ_FALLBACK : TD_UART_CLOCK_HZ;
}
