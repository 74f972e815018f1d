/* Board bring-up as data: the board file's [[init]] steps (clock gates, pin muxing, oscillator
 * start-up) are rendered into board_config.h and executed here, in order, before anything else. */
#include <stdint.h>
#include "board_config.h"

typedef struct {
    uint8_t op;       /* 0: read-modify-write, 1: wait until (reg & mask) == value, 2: end */
    uint32_t addr, mask, value;
} td_init_step;

static const td_init_step steps[] = TD_INIT_STEPS;

void td_board_init(void) {
    for (const td_init_step *s = steps; s->op != 2; ++s) {
        volatile uint32_t *reg = (volatile uint32_t *)s->addr;
        if (s->op == 0) {
            *reg = (*reg & ~s->mask) | (s->value & s->mask);
        } else {
            while ((*reg & s->mask) != s->value) {}
        }
    }
}
