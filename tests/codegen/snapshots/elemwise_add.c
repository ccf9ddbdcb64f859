#ifndef SG_BLK
#define SG_BLK 16   /* lanes of a block: a multiple of every vector width gcc picks */
#endif
/* noclone: a copy specialised for the contiguous call's ndim == 1 doubled gcc's time */
__attribute__((noclone, noinline))
static void k0_strided(int64_t ndim, const int64_t *shape, void **data)
{
    /* shape[ndim], then the byte strides of each operand (inputs, output): ndim each */
    const int64_t *st = shape + ndim;
    char *p[3];
    int64_t idx[SG_MAXDIM];         /* not `= {0}`: a 512-byte memset a call */
    for (int k = 0; k < 3; ++k) p[k] = (char *)data[k];
    for (int64_t d = 0; d < ndim; ++d) {
        if (shape[d] == 0) return;
        idx[d] = 0;
    }
    const int64_t n = shape[ndim - 1];
    const int64_t t0 = st[0 * ndim + ndim - 1];
    const double s1 = *(const double *)p[1];
    const int64_t to = st[2 * ndim + ndim - 1];
    /* rows whose operands are contiguous or broadcast (stride 0: one value a row, read from
       a block filled with it, `b & m` keeping its index at 0) run the blocks in place */
    const int unit = to == sizeof(double) && (t0 == sizeof(double) || t0 == 0);
    const int64_t nb = unit ? n - n % SG_BLK : 0;
    const int64_t m0 = t0 ? -1 : 0;
    double f0[SG_BLK];
    for (;;) {
        const double *q0 = (const double *)p[0];
        if (!m0 && nb) {
            for (int j = 0; j < SG_BLK; ++j) f0[j] = q0[0];
            q0 = f0;
        }
        double *qo = (double *)p[2];
        for (int64_t b = 0; b < nb; b += SG_BLK) {
        #pragma omp simd
        for (int64_t j = 0; j < SG_BLK; ++j) {
            const double v0 = q0[(b & m0) + j];
            const double v1 = s1;
            qo[b + j] = (double)((v0 + v1));
        }
        }
        for (int64_t i = nb; i < n; i += SG_BLK) {
            const int64_t r = n - i < SG_BLK ? n - i : SG_BLK;
        double b0[SG_BLK];
        double bo[SG_BLK];

            for (int64_t j = 0; j < SG_BLK; ++j) {
                const int64_t e = i + (j < r ? j : 0);
                b0[j] = *(const double *)(p[0] + e * t0);
            }
        #pragma omp simd
        for (int64_t j = 0; j < SG_BLK; ++j) {
            const double v0 = b0[j];
            const double v1 = s1;
            bo[j] = (double)((v0 + v1));
        }

            for (int64_t j = 0; j < r; ++j)
                *(double *)(p[2] + (i + j) * to) = bo[j];
        }
        int64_t d = ndim - 2;
        for (; d >= 0; --d) {
            for (int k = 0; k < 3; ++k) p[k] += st[k * ndim + d];
            if (++idx[d] < shape[d]) break;
            for (int k = 0; k < 3; ++k) p[k] -= st[k * ndim + d] * shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

/* k0: add(TensorType(float64, (None,)), TensorType(float64, (1,))) -> TensorType(float64, (None,)) */
static void k0_contig(int64_t n, void **data)
{
    /* one row of the strided loop: the block body is spelled twice per kernel, not four
       times (gcc's time grows with it) */
    int64_t meta[4] = {n, sizeof(double), sizeof(double), sizeof(double)};
    k0_strided(1, meta, data);
}

static int k0(int64_t n, void **data, const int64_t *meta)
{
    if (meta == NULL) k0_contig(n, data); else k0_strided(n, meta, data);
    return 0;
}
