/* Shared facts of the convolution geometry. */
#include "explore_kernels.h"

uint32_t explore_conv_fan_in(const explore_conv_geom_t *g)
{
    return g->k_h * g->k_w * (g->depthwise ? 1u : g->in_c);
}
