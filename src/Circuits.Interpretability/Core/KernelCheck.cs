using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Core;

/// <summary>
/// A few small convolutions computed by libtorch and by plain loops in double precision, compared once per process.
/// Some virtual machines hide the processor's cache description; on those, libtorch's oneDNN kernels (AVX2 and
/// AVX-512 code paths) were measured to return wrong, run-to-run different values for transposed convolutions and
/// some forward convolutions (an AMD EPYC family 26 guest, libtorch 2.10, oneDNN 3.7.1: errors of 1 to 20 on values
/// of order 10, and NaN). Nothing in libtorch reports it, so the library checks before its first computation.
/// </summary>
internal static class KernelCheck
{
    /// <summary>One comparison: what was computed, and the largest difference relative to the values' size.</summary>
    internal sealed record Outcome(string Case, double Error)
    {
        /// <summary>Convolutions of at most a few hundred terms in float agree with double loops to about 1e-6; 1e-3 leaves room.</summary>
        public bool Failed => !(Error <= 1e-3);
    }

    /// <summary>Computes every case on the CPU and returns each one's relative error.</summary>
    internal static IReadOnlyList<Outcome> Run()
    {
        var outcomes = new List<Outcome>();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // Transposed convolutions with stride 1 and no padding: the adjoint the kernel composition uses.
        outcomes.Add(Transposed(batch: 2, inputs: 4, outputs: 6, kernel: 3, stride: 1, dilation: 2, size: 5, seed: 1));
        outcomes.Add(Transposed(batch: 3, inputs: 4, outputs: 3, kernel: 3, stride: 1, dilation: 1, size: 9, seed: 2));
        outcomes.Add(Transposed(batch: 2, inputs: 3, outputs: 4, kernel: 3, stride: 1, dilation: 1, size: 9, seed: 3));
        outcomes.Add(Transposed(batch: 2, inputs: 3, outputs: 4, kernel: 3, stride: 2, dilation: 1, size: 7, seed: 4));
        // Forward convolutions and their input gradient, as a render's step runs them.
        outcomes.Add(Forward(batch: 2, inputs: 16, outputs: 24, kernel: 5, stride: 1, padding: 2, size: 14, seed: 5));
        outcomes.Add(Forward(batch: 1, inputs: 3, outputs: 8, kernel: 7, stride: 2, padding: 3, size: 32, seed: 6));
        outcomes.Add(Forward(batch: 2, inputs: 24, outputs: 16, kernel: 1, stride: 1, padding: 0, size: 14, seed: 7));
        return outcomes;
    }

    private static Outcome Transposed(int batch, int inputs, int outputs, int kernel, int stride, int dilation, int size, int seed)
    {
        // conv_transpose2d(g, w) is the gradient of conv2d(x, w) with respect to x, where g has the conv's output size.
        var random = new Random(seed);
        float[] g = Fill(random, batch * outputs * size * size);
        float[] w = Fill(random, outputs * inputs * kernel * kernel);
        using Tensor gt = tensor(g, new long[] { batch, outputs, size, size });
        using Tensor wt = tensor(w, new long[] { outputs, inputs, kernel, kernel });
        using Tensor result = nn.functional.conv_transpose2d(gt, wt, null, new long[] { stride, stride }, new long[] { 0, 0 }, new long[] { 0, 0 }, new long[] { dilation, dilation }, 1);
        int full = ((size - 1) * stride) + (dilation * (kernel - 1)) + 1;
        double[] expected = Adjoint(g, w, batch, inputs, outputs, kernel, stride, 0, dilation, full, size);
        return new Outcome($"conv_transpose2d of a {batch} x {outputs} x {size} x {size} map by a {outputs} x {inputs} x {kernel} x {kernel} kernel (stride {stride}, dilation {dilation})",
            RelativeError(result, expected));
    }

    private static Outcome Forward(int batch, int inputs, int outputs, int kernel, int stride, int padding, int size, int seed)
    {
        var random = new Random(seed);
        float[] x = Fill(random, batch * inputs * size * size);
        float[] w = Fill(random, outputs * inputs * kernel * kernel);
        int outSize = ((size + (2 * padding) - kernel) / stride) + 1;
        float[] g = Fill(random, batch * outputs * outSize * outSize);
        double[] expected = Convolve(x, w, batch, inputs, outputs, kernel, stride, padding, size, outSize);
        double[] expectedGrad = Adjoint(g, w, batch, inputs, outputs, kernel, stride, padding, 1, size, outSize);
        using var grad = enable_grad();
        using Tensor xt = tensor(x, new long[] { batch, inputs, size, size }).requires_grad_(true);
        using Tensor wt = tensor(w, new long[] { outputs, inputs, kernel, kernel });
        using Tensor gt = tensor(g, new long[] { batch, outputs, outSize, outSize });
        using Tensor y = nn.functional.conv2d(xt, wt, null, new long[] { stride, stride }, new long[] { padding, padding });
        y.backward(new[] { gt });
        double error = Math.Max(RelativeError(y, expected), RelativeError(xt.grad!, expectedGrad));
        return new Outcome($"conv2d of a {batch} x {inputs} x {size} x {size} map by a {outputs} x {inputs} x {kernel} x {kernel} kernel (stride {stride}, padding {padding}) and its input gradient", error);
    }

    private static float[] Fill(Random random, int count)
    {
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            values[i] = (float)((2 * random.NextDouble()) - 1);
        }

        return values;
    }

    /// <summary>y[b, o, i, j] = sum over c, p, q of x[b, c, s i - pad + p, s j - pad + q] w[o, c, p, q] (zero outside the map).</summary>
    private static double[] Convolve(float[] x, float[] w, int batch, int inputs, int outputs, int kernel, int stride, int padding, int size, int outSize)
    {
        var y = new double[batch * outputs * outSize * outSize];
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outputs; o++)
            {
                for (int i = 0; i < outSize; i++)
                {
                    for (int j = 0; j < outSize; j++)
                    {
                        double sum = 0;
                        for (int c = 0; c < inputs; c++)
                        {
                            for (int p = 0; p < kernel; p++)
                            {
                                int row = (stride * i) - padding + p;
                                if (row < 0 || row >= size)
                                {
                                    continue;
                                }

                                for (int q = 0; q < kernel; q++)
                                {
                                    int column = (stride * j) - padding + q;
                                    if (column >= 0 && column < size)
                                    {
                                        sum += (double)x[(((b * inputs) + c) * size + row) * size + column] * w[(((o * inputs) + c) * kernel + p) * kernel + q];
                                    }
                                }
                            }
                        }

                        y[(((b * outputs) + o) * outSize + i) * outSize + j] = sum;
                    }
                }
            }
        }

        return y;
    }

    /// <summary>The gradient of <see cref="Convolve"/> (with dilation) with respect to its input, for the output gradient g.</summary>
    private static double[] Adjoint(float[] g, float[] w, int batch, int inputs, int outputs, int kernel, int stride, int padding, int dilation, int size, int outSize)
    {
        var x = new double[batch * inputs * size * size];
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outputs; o++)
            {
                for (int i = 0; i < outSize; i++)
                {
                    for (int j = 0; j < outSize; j++)
                    {
                        double gradient = g[(((b * outputs) + o) * outSize + i) * outSize + j];
                        for (int c = 0; c < inputs; c++)
                        {
                            for (int p = 0; p < kernel; p++)
                            {
                                int row = (stride * i) - padding + (dilation * p);
                                if (row < 0 || row >= size)
                                {
                                    continue;
                                }

                                for (int q = 0; q < kernel; q++)
                                {
                                    int column = (stride * j) - padding + (dilation * q);
                                    if (column >= 0 && column < size)
                                    {
                                        x[(((b * inputs) + c) * size + row) * size + column] += gradient * w[(((o * inputs) + c) * kernel + p) * kernel + q];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }

        return x;
    }

    private static double RelativeError(Tensor actual, double[] expected)
    {
        float[] values = actual.detach().cpu().contiguous().data<float>().ToArray();
        if (values.Length != expected.Length)
        {
            return double.PositiveInfinity;
        }

        double largest = 0, worst = 0;
        for (int i = 0; i < values.Length; i++)
        {
            largest = Math.Max(largest, Math.Abs(expected[i]));
            double difference = Math.Abs(values[i] - expected[i]);
            worst = double.IsNaN(difference) ? double.NaN : Math.Max(worst, difference);
            if (double.IsNaN(worst))
            {
                return double.NaN;
            }
        }

        return worst / Math.Max(1, largest);
    }
}
