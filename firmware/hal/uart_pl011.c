/* Arm PL011 UART (Stellaris LM3S6965 in QEMU, RP2040). */
#include "board_config.h"
#include "td_hal.h"

#define UART_DR (*(volatile uint32_t *)(TD_UART_BASE + 0x00))
#define UART_FR (*(volatile uint32_t *)(TD_UART_BASE + 0x18))
#define UART_IBRD (*(volatile uint32_t *)(TD_UART_BASE + 0x24))
#define UART_FBRD (*(volatile uint32_t *)(TD_UART_BASE + 0x28))
#define UART_LCRH (*(volatile uint32_t *)(TD_UART_BASE + 0x2C))
#define UART_CR (*(volatile uint32_t *)(TD_UART_BASE + 0x30))

void td_uart_init(void) {
    uint32_t div64 = (uint32_t)(((uint64_t)td_uart_clock_hz() * 4u + TD_UART_BAUD / 2u) / TD_UART_BAUD);
    UART_CR = 0;
    UART_IBRD = div64 >> 6;
    UART_FBRD = div64 & 63u;
    UART_LCRH = (3u << 5) | (1u << 4);   /* 8 bits, FIFOs on */
    UART_CR = (1u << 0) | (1u << 8) | (1u << 9);
}

void td_uart_putc(char c) {
    while (UART_FR & (1u << 5)) {}
    UART_DR = (uint8_t)c;
}

int td_uart_getc(void) {
    while (UART_FR & (1u << 4)) {}
    return (int)(UART_DR & 0xFFu);
}
