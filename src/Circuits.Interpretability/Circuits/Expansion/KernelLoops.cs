using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>The brute-force kernel composition behind <see cref="ExpandedWeights.ComposeConvKernels"/>: explicit loops, an independent check for the fast methods.</summary>
internal static class KernelLoops
{
    /// <summary>W[o, c, a + y, b + x] += K2[o, m, a, b] K1[m, c, y, x], kernel after kernel.</summary>
    public static Tensor Compose(IReadOnlyList<Tensor> kernels)
    {
        ArgumentNullException.ThrowIfNull(kernels);
        if (kernels.Count == 0)
        {
            throw new CircuitsException("Composing conv kernels needs at least one kernel; got none.");
        }

        float[] current = Values(kernels[0], 0, out long outC, out long inC, out long kh, out long kw);
        for (int n = 1; n < kernels.Count; n++)
        {
            float[] next = Values(kernels[n], n, out long o2, out long i2, out long h2, out long w2);
            if (i2 != outC)
            {
                throw new CircuitsException($"Kernel {n} takes {i2} input channels but kernel {n - 1} gives {outC}; expected consecutive kernels to agree.");
            }

            long h = kh + h2 - 1;
            long w = kw + w2 - 1;
            var composed = new float[o2 * inC * h * w];
            for (long o = 0; o < o2; o++)
            {
                for (long m = 0; m < outC; m++)
                {
                    for (long a = 0; a < h2; a++)
                    {
                        for (long b = 0; b < w2; b++)
                        {
                            float outer = next[(((o * i2) + m) * h2 * w2) + (a * w2) + b];
                            for (long c = 0; c < inC; c++)
                            {
                                for (long y = 0; y < kh; y++)
                                {
                                    for (long x = 0; x < kw; x++)
                                    {
                                        composed[(((o * inC) + c) * h * w) + ((a + y) * w) + b + x] +=
                                            outer * current[(((m * inC) + c) * kh * kw) + (y * kw) + x];
                                    }
                                }
                            }
                        }
                    }
                }
            }

            (current, outC, kh, kw) = (composed, o2, h, w);
        }

        return tensor(current).reshape(outC, inC, kh, kw);
    }

    private static float[] Values(Tensor kernel, int index, out long outC, out long inC, out long kh, out long kw)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        if (kernel.dim() != 4)
        {
            throw new CircuitsException($"Kernel {index} has shape [{string.Join(", ", kernel.shape)}]; expected 4 axes (out, in, kh, kw).");
        }

        (outC, inC, kh, kw) = (kernel.shape[0], kernel.shape[1], kernel.shape[2], kernel.shape[3]);
        return kernel.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
    }
}
