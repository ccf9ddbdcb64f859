/* k0: add(TensorType(float64, (None,)), TensorType(float64, (1,))) -> TensorType(float64, (None,)) */
static void k0_contig(int64_t n, void **data)
{
    const double *p0 = (const double *)data[0];
    const double *p1 = (const double *)data[1];
    double *po = (double *)data[2];
    const double s1 = p1[0];
    #pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
        const double v0 = p0[i];
        const double v1 = s1;
        po[i] = (double)((v0 + v1));
    }
}

static void k0_strided(int64_t ndim, const int64_t *shape, void **data)
{
    /* shape[ndim], then the byte strides of each operand (inputs, output): ndim each */
    const int64_t *st = shape + ndim;
    char *p[3];
    int64_t idx[SG_MAXDIM] = {0};
    for (int k = 0; k < 3; ++k) p[k] = (char *)data[k];
    for (int64_t d = 0; d < ndim; ++d) if (shape[d] == 0) return;
    const int64_t n = shape[ndim - 1];
    const int64_t t0 = st[0 * ndim + ndim - 1];
    const int64_t t1 = st[1 * ndim + ndim - 1];
    const int64_t to = st[2 * ndim + ndim - 1];
    for (;;) {
        for (int64_t i = 0; i < n; ++i) {
            const double v0 = *(const double *)(p[0] + i * t0);
            const double v1 = *(const double *)(p[1] + i * t1);
            *(double *)(p[2] + i * to) = (double)((v0 + v1));
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

static int k0(int64_t n, void **data, const int64_t *meta)
{
    if (meta == NULL) k0_contig(n, data); else k0_strided(n, meta, data);
    return 0;
}
