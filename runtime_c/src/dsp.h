/* The ARMv7E-M DSP path (SMLAD: two 16x16 multiply-accumulates per instruction).  Integer results
 * are identical to the portable loops by construction: only the order of exact int32 additions
 * differs.  Build with -DEXPLORE_NO_DSP=1 to use the portable loops everywhere. */
#ifndef EXPLORE_DSP_H
#define EXPLORE_DSP_H

#include <stdint.h>
#include <string.h>

/* Inner loops stay functions of their own so that the register allocator sees only them. */
#if defined(__GNUC__)
#define EXPLORE_INLINE static inline __attribute__((always_inline))
#define EXPLORE_INNER_LOOP static __attribute__((noinline))
#else
#define EXPLORE_INLINE static inline
#define EXPLORE_INNER_LOOP static
#endif

#if defined(__ARM_FEATURE_DSP) && !defined(EXPLORE_NO_DSP)
#define EXPLORE_USE_DSP 1
#include <arm_acle.h>

/* Four bytes from any address (the M4/M7 load unaligned words in one instruction). */
static inline uint32_t explore_load4(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Bytes 0 and 2 as 16-bit lanes (lo, hi); with ror 8, bytes 1 and 3. */
static inline uint32_t explore_bytes02(uint32_t v)
{
    return __uxtb16(v);
}

static inline uint32_t explore_bytes13(uint32_t v)
{
    uint32_t r;
    __asm__("uxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* (a.lo, b.lo) and (a.hi, b.hi) as 16-bit lanes. */
static inline uint32_t explore_pack_lo(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

static inline uint32_t explore_pack_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(b), "r"(a));
    return r;
}

/* Bytes 1 and 3 of v added to the 16-bit lanes of a (UXTAB16 with ror 8): with a = (-z, -z), two
   centred bytes in one instruction; __uxtab16(a, v) does bytes 0 and 2. */
static inline uint32_t explore_add_bytes13(uint32_t a, uint32_t v)
{
    uint32_t r;
    __asm__("uxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

static inline int32_t explore_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    return (int32_t)__smlad(a, b, (uint32_t)acc);
}

/* Two centred values as signed 16-bit lanes (lo, hi). */
static inline uint32_t explore_pair(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}
#endif

#endif /* EXPLORE_DSP_H */
