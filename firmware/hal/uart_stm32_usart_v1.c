/* STM32 USART, first register layout (F1/F2/F4: SR, DR, BRR, CR1). */
#include "board_config.h"
#include "td_hal.h"

#define USART_SR (*(volatile uint32_t *)(TD_UART_BASE + 0x00))
#define USART_DR (*(volatile uint32_t *)(TD_UART_BASE + 0x04))
#define USART_BRR (*(volatile uint32_t *)(TD_UART_BASE + 0x08))
#define USART_CR1 (*(volatile uint32_t *)(TD_UART_BASE + 0x0C))

void td_uart_init(void) {
    USART_BRR = (td_uart_clock_hz() + TD_UART_BAUD / 2u) / TD_UART_BAUD;
    USART_CR1 = (1u << 13) | (1u << 3) | (1u << 2);   /* UE, TE, RE */
}

void td_uart_putc(char c) {
    while (!(USART_SR & (1u << 7))) {}                /* TXE */
    USART_DR = (uint8_t)c;
}

int td_uart_getc(void) {
    while (!(USART_SR & (1u << 5))) {}                /* RXNE */
    return (int)(USART_DR & 0xFFu);
}
