/* The CPU's fp32 FMA peak: 12 independent chains of vector FMAs per thread (enough to cover the
   FMA latency on every x86 core we know), 256-bit (AVX2) and 512-bit (AVX-512) variants.
   Built and called by benchmarks/fma_peak.py; each call returns a value so the work stays. */
#include <immintrin.h>
#include <stdint.h>

#define CHAINS(T, SET)                                                                      \
    T a0 = SET(1.00f), a1 = SET(1.01f), a2 = SET(1.02f), a3 = SET(1.03f), a4 = SET(1.04f),  \
      a5 = SET(1.05f), a6 = SET(1.06f), a7 = SET(1.07f), a8 = SET(1.08f), a9 = SET(1.09f),  \
      a10 = SET(1.10f), a11 = SET(1.11f);                                                   \
    const T m = SET(0.9999999f), c = SET(1e-7f);
#define STEP(F)                                                                             \
    a0 = F(a0, m, c); a1 = F(a1, m, c); a2 = F(a2, m, c); a3 = F(a3, m, c);                 \
    a4 = F(a4, m, c); a5 = F(a5, m, c); a6 = F(a6, m, c); a7 = F(a7, m, c);                 \
    a8 = F(a8, m, c); a9 = F(a9, m, c); a10 = F(a10, m, c); a11 = F(a11, m, c);
#define SUM(ADD) ADD(ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7))), ADD(ADD(a8, a9), ADD(a10, a11)))

__attribute__((target("avx2,fma"))) float fma_avx2(int64_t n) {
    CHAINS(__m256, _mm256_set1_ps)
    for (int64_t i = 0; i < n; i++) { STEP(_mm256_fmadd_ps) }
    float out[8];
    _mm256_storeu_ps(out, SUM(_mm256_add_ps));
    return out[0];
}

__attribute__((target("avx512f"))) float fma_avx512(int64_t n) {
    CHAINS(__m512, _mm512_set1_ps)
    for (int64_t i = 0; i < n; i++) { STEP(_mm512_fmadd_ps) }
    return _mm512_reduce_add_ps(SUM(_mm512_add_ps));
}
