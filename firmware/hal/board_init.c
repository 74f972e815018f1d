/* Board bring-up as data: the board file's [[init]] steps (clock gates, pin muxing, oscillator
 * start-up) are rendered into board_config.h and executed here, in order, before anything else.
 * A wait gives up after TD_INIT_WAIT_LIMIT reads: the firmware still starts (on its reset clock
 * where a PLL never locked) and td_clock_status() says which step failed, over the UART. */
#include <stdint.h>
#include "board_config.h"
#include "td_hal.h"

#define TD_INIT_WAIT_LIMIT 1000000u

typedef struct {
    uint8_t op;       /* 0: read-modify-write, 1: wait until (reg & mask) == value, 2: end */
    uint32_t addr, mask, value;
} td_init_step;

static const td_init_step steps[] = TD_INIT_STEPS;
static const char *const notes[] = TD_INIT_NOTES;
static const char *status = "ok";

void td_board_init(void) {
    for (const td_init_step *s = steps; s->op != 2; ++s) {
        volatile uint32_t *reg = (volatile uint32_t *)s->addr;
        if (s->op == 0) {
            *reg = (*reg & ~s->mask) | (s->value & s->mask);
            continue;
        }
        uint32_t n = 0;
        while ((*reg & s->mask) != s->value && ++n < TD_INIT_WAIT_LIMIT) {}
        if (n == TD_INIT_WAIT_LIMIT) {
            status = notes[s - steps];
            return;  /* later steps assume this one succeeded */
        }
    }
}

const char *td_clock_status(void) { return status; }
