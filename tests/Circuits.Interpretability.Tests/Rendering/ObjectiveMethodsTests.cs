using Circuits.Interpretability.Core;
using Circuits.Interpretability.Rendering;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Tests.Rendering;

/// <summary>
/// The objectives of Lucid and Lucent that the library adds (weights, directions with cossim_pow, tensor
/// direction, channel interpolation, comparisons with a real image, the alpha blur), each evaluated on
/// hand-made activations and compared with a naive loop over the same numbers.
/// </summary>
public class ObjectiveMethodsTests
{
    private const int N = 3, C = 4, H = 5, W = 6;

    /// <summary>Activations with mixed signs, as a float array indexed [n, c, y, x].</summary>
    private static (Tensor Tensor, float[] Values) Activations(int seed, int n = N, int c = C, int h = H, int w = W)
    {
        Tensor t = randn(new long[] { n, c, h, w }, generator: new Generator((ulong)seed));
        return (t, HandBuiltNet.Values(t));
    }

    private static float At(float[] a, int n, int c, int y, int x, int channels = C, int h = H, int w = W) =>
        a[(((((n * channels) + c) * h) + y) * w) + x];

    private static RenderContext Context(params (string Layer, Tensor Activation)[] layers) =>
        new(zeros(N, 3, 8, 8), layers.ToDictionary(l => l.Layer, l => l.Activation));

    private static double Value(Objective o, RenderContext ctx) => o.Evaluate(ctx).item<float>();

    /// <summary>Lucid's _dot_cossim at one position, written out.</summary>
    private static double DotCossim(IReadOnlyList<double> a, IReadOnlyList<double> v, double pow)
    {
        double dot = 0, aa = 0, vv = 0;
        for (int c = 0; c < a.Count; c++)
        {
            dot += a[c] * v[c];
            aa += a[c] * a[c];
            vv += v[c] * v[c];
        }

        return pow == 0 ? dot : dot * Math.Pow(Math.Max(0.1, dot / (1e-4 + Math.Sqrt(aa)) / (1e-4 + Math.Sqrt(vv))), pow);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(4.0)]
    public void Direction_and_direction_neuron_with_cossim_pow_match_a_naive_loop(double pow)
    {
        var (acts, a) = Activations(1);
        float[] v = { 0.5f, -1f, 2f, 0.25f };
        using Tensor direction = tensor(v);
        var ctx = Context(("l", acts));

        double[] perItem = new double[N];
        for (int n = 0; n < N; n++)
        {
            for (int y = 0; y < H; y++)
            {
                for (int x = 0; x < W; x++)
                {
                    perItem[n] += DotCossim(Enumerable.Range(0, C).Select(c => (double)At(a, n, c, y, x)).ToArray(), v.Select(f => (double)f).ToArray(), pow);
                }
            }

            perItem[n] /= H * W;
        }

        Value(Objectives.Direction("l", direction, cossimPow: pow), ctx).Should().BeApproximately(perItem.Sum(), 1e-4);
        Value(Objectives.Direction("l", direction, batch: 2, cossimPow: pow), ctx).Should().BeApproximately(perItem[2], 1e-4);

        double neuron = DotCossim(Enumerable.Range(0, C).Select(c => (double)At(a, 1, c, 3, 4)).ToArray(), v.Select(f => (double)f).ToArray(), pow);
        Value(Objectives.DirectionNeuron("l", direction, y: 3, x: 4, batch: 1, cossimPow: pow), ctx).Should().BeApproximately(neuron, 1e-4);
        double centre = Enumerable.Range(0, N).Sum(n => DotCossim(Enumerable.Range(0, C).Select(c => (double)At(a, n, c, H / 2, W / 2)).ToArray(), v.Select(f => (double)f).ToArray(), pow));
        Value(Objectives.DirectionNeuron("l", direction, cossimPow: pow), ctx).Should().BeApproximately(centre, 1e-4);
    }

    [Fact]
    public void A_larger_cossim_pow_prefers_the_aligned_activation_over_the_larger_one()
    {
        // Two single-position activations: one along the direction with length 1, one longer but at 60 degrees.
        using Tensor direction = tensor(new float[] { 1, 0 });
        using Tensor acts = tensor(new float[] { 1, 0, 3 * 0.5f, 3 * 0.8660254f }).reshape(2, 2, 1, 1);
        var ctx = new RenderContext(zeros(2, 3, 4, 4), new Dictionary<string, Tensor> { ["l"] = acts });
        double Score(int item, double pow) => Value(Objectives.Direction("l", direction, batch: item, cossimPow: pow), ctx);

        Score(1, 0).Should().BeGreaterThan(Score(0, 0), "the plain dot product is 1.5 against 1");
        Score(1, 2).Should().BeLessThan(Score(0, 2), "1.5 * 0.5^2 = 0.375 against 1");
        Score(1, 2).Should().BeApproximately(1.5 * Math.Pow(1.5 / (3 + 1e-4) / (1 + 1e-4), 2), 1e-5);
    }

    [Fact]
    public void Tensor_direction_reads_the_centre_window_and_matches_a_naive_loop()
    {
        var (acts, a) = Activations(2);
        const int h = 3, w = 2;
        var (dirT, d) = Activations(3, n: 1, h: h, w: w);
        var ctx = Context(("l", acts));
        int top = (H - h) / 2, left = (W - w) / 2;
        foreach (double pow in new[] { 0.0, 2.0 })
        {
            double expected = 0;
            for (int n = 0; n < N; n++)
            {
                double sum = 0;
                for (int y = 0; y < h; y++)
                {
                    for (int x = 0; x < w; x++)
                    {
                        sum += DotCossim(
                            Enumerable.Range(0, C).Select(c => (double)At(a, n, c, top + y, left + x)).ToArray(),
                            Enumerable.Range(0, C).Select(c => (double)At(d, 0, c, y, x, h: h, w: w)).ToArray(), pow);
                    }
                }

                expected += sum / (h * w);
            }

            Value(Objectives.TensorDirection("l", dirT[0], cossimPow: pow), ctx).Should().BeApproximately(expected, 1e-4);
        }

        // A direction equal to the whole activation of item 0 is the sum of squares over it, divided by positions.
        double selfDot = a.Take(C * H * W).Sum(f => (double)f * f) / (H * W);
        Value(Objectives.TensorDirection("l", acts[0], batch: 0), ctx).Should().BeApproximately(selfDot, 1e-4);
        FluentActions.Invoking(() => Objectives.TensorDirection("l", zeros(C, H + 1, 1), batch: 0).Evaluate(ctx))
            .Should().Throw<CircuitsException>().WithMessage("*does not fit layer 'l'*");
    }

    [Fact]
    public void Neuron_channel_and_local_group_weights_match_lucents_means()
    {
        var (acts, a) = Activations(4);
        float[] wts = { 1f, -2f, 0.5f, 3f };
        using Tensor weight = tensor(wts);
        var ctx = Context(("l", acts));

        double Mean(int n, int y0, int x0, int hh, int ww, bool weighted)
        {
            double s = 0;
            for (int c = 0; c < C; c++)
            {
                for (int y = y0; y < y0 + hh; y++)
                {
                    for (int x = x0; x < x0 + ww; x++)
                    {
                        s += At(a, n, c, y, x) * (weighted ? wts[c] : 1);
                    }
                }
            }

            return s / (C * hh * ww);
        }

        Value(Objectives.NeuronWeight("l", weight, y: 1, x: 2, batch: 0), ctx).Should().BeApproximately(Mean(0, 1, 2, 1, 1, true), 1e-5);
        Value(Objectives.NeuronWeight("l", null, batch: 1), ctx).Should().BeApproximately(Mean(1, H / 2, W / 2, 1, 1, false), 1e-5);
        Value(Objectives.ChannelWeight("l", weight), ctx).Should().BeApproximately(Enumerable.Range(0, N).Sum(n => Mean(n, 0, 0, H, W, true)), 1e-4);
        Value(Objectives.LocalGroupWeight("l", weight, y: 1, x: 3, height: 2, width: 3, batch: 2), ctx).Should().BeApproximately(Mean(2, 1, 3, 2, 3, true), 1e-5);
        Value(Objectives.LocalGroupWeight("l", null, y: 0, x: 0, height: H, width: W, batch: 2), ctx).Should().BeApproximately(Mean(2, 0, 0, H, W, false), 1e-5);

        // channel_weight is the direction objective divided by the channel count.
        Value(Objectives.ChannelWeight("l", weight), ctx).Should().BeApproximately(Value(Objectives.Direction("l", weight), ctx) / C, 1e-4);
        FluentActions.Invoking(() => Objectives.LocalGroupWeight("l", weight, y: 4, x: 0, height: 2).Evaluate(ctx))
            .Should().Throw<UnitOutOfRangeException>().WithMessage("Position (5,0) is out of range*");
        FluentActions.Invoking(() => Objectives.ChannelWeight("l", ones(C + 1)).Evaluate(ctx))
            .Should().Throw<CircuitsException>().WithMessage("The weight has 5 elements; layer 'l' has 4 channels.");
    }

    [Fact]
    public void Channel_interpolation_weights_each_item_and_its_endpoints_are_the_single_unit_objectives()
    {
        var (a1, v1) = Activations(5);
        var (a2, v2) = Activations(6, c: 7);
        var ctx = Context(("first", a1), ("second", a2));
        Objective sweep = Objectives.ChannelInterpolate("first", 1, "second", 6);

        double expected = 0;
        for (int n = 0; n < N; n++)
        {
            double w = n / (double)(N - 1), m1 = 0, m2 = 0;
            for (int y = 0; y < H; y++)
            {
                for (int x = 0; x < W; x++)
                {
                    m1 += At(v1, n, 1, y, x);
                    m2 += At(v2, n, 6, y, x, channels: 7);
                }
            }

            expected += ((1 - w) * m1 / (H * W)) + (w * m2 / (H * W));
        }

        Value(sweep, ctx).Should().BeApproximately(expected, 1e-4);
        sweep.Layers.Should().Equal("first", "second");
        sweep.Name.Should().Be("channel_interpolate(first:1 -> second:6)");

        // With two items the sweep is exactly "item 0: the first unit" + "item 1: the second unit".
        var two = Context(("first", a1[TensorIndex.Slice(0, 2)]), ("second", a2[TensorIndex.Slice(0, 2)]));
        double endpoints = Value(Objectives.Channel("first:1", batch: 0), two) + Value(Objectives.Channel("second:6", batch: 1), two);
        Value(sweep, two).Should().BeApproximately(endpoints, 1e-5);
        FluentActions.Invoking(() => Objectives.ChannelInterpolate("first", 9, "second", 0).Evaluate(ctx))
            .Should().Throw<UnitOutOfRangeException>().WithMessage("Channel 9 is out of range for layer 'first', which has 4 channels*");
    }

    [Fact]
    public void Comparisons_with_a_real_image_match_their_definitions()
    {
        var (acts, a) = Activations(7);
        var ctx = Context(("l", acts));
        int size = C * H * W;
        double dot = 0, mag0 = 0, msd = 0;
        for (int i = 0; i < size; i++)
        {
            dot += (double)a[i] * a[size + i];
            mag0 += (double)a[i] * a[i];
            msd += Math.Pow(a[(2 * size) + i] - a[i], 2);
        }

        Value(Objectives.DotCompare("l"), ctx).Should().BeApproximately(dot, 1e-3);
        double cossim = Math.Max(0.1, dot / (1e-6 + Math.Sqrt(mag0)));
        Value(Objectives.DotCompare("l", cossimPow: 2), ctx).Should().BeApproximately(dot * cossim * cossim, 1e-3 * Math.Abs(dot * cossim * cossim));
        Value(Objectives.ActivationDifference("l", batch: 2, reference: 0), ctx).Should().BeApproximately(msd / size, 1e-5);
        Objectives.DotCompare("l", 2).MaxBatchIndex.Should().Be(2);
        Objectives.ActivationDifference("l", 0, 1).MaxBatchIndex.Should().Be(1);

        // input_diff: the root mean square difference from the original, per item.
        using Tensor image = full(2, 3, 2, 2, 0.5f);
        image[1, 0, 0, 0] = tensor(0.9f);
        using Tensor original = full(3, 2, 2, 0.3f);
        var imageCtx = new RenderContext(image, new Dictionary<string, Tensor>());
        double item0 = 0.2, item1 = Math.Sqrt(((11 * 0.04) + (0.6 * 0.6)) / 12);
        Value(Objectives.InputDifference(original, batch: 0), imageCtx).Should().BeApproximately(item0, 1e-5);
        Value(Objectives.InputDifference(original), imageCtx).Should().BeApproximately(item0 + item1, 1e-5);
        FluentActions.Invoking(() => Objectives.InputDifference(zeros(3, 4, 4)).Evaluate(imageCtx))
            .Should().Throw<CircuitsException>().WithMessage("*expected the same channels, height and width*");
    }

    [Fact]
    public void Blur_alpha_each_step_is_half_the_squared_distance_to_lucids_normalized_blur()
    {
        var (image, v) = Activations(8, n: 1, c: 4, h: 4, w: 5);
        var ctx = new RenderContext(image, new Dictionary<string, Tensor>());
        double expected = 0;
        for (int y = 0; y < 4; y++)
        {
            for (int x = 0; x < 5; x++)
            {
                double sum = 0, norm = 0;
                for (int dy = -1; dy <= 1; dy++)
                {
                    for (int dx = -1; dx <= 1; dx++)
                    {
                        int yy = y + dy, xx = x + dx;
                        if (yy < 0 || yy >= 4 || xx < 0 || xx >= 5)
                        {
                            continue;
                        }

                        double k = dy == 0 && dx == 0 ? 1 : 0.5;
                        sum += k * At(v, 0, 3, yy, xx, channels: 4, h: 4, w: 5);
                        norm += k;
                    }
                }

                expected += 0.5 * Math.Pow(At(v, 0, 3, y, x, channels: 4, h: 4, w: 5) - (sum / norm), 2);
            }
        }

        Value(Objectives.BlurAlphaEachStep(), ctx).Should().BeApproximately(expected, 1e-4);

        // The blurred copy is held constant: the gradient is alpha minus its blur, and nothing reaches RGB.
        Tensor leaf = image.clone().requires_grad_(true);
        Objectives.BlurAlphaEachStep().Evaluate(new RenderContext(leaf, new Dictionary<string, Tensor>())).backward();
        leaf.grad![0, TensorIndex.Slice(0, 3)].abs().sum().item<float>().Should().Be(0);
        using (no_grad())
        {
            Tensor alpha = image[TensorIndex.Colon, TensorIndex.Slice(3, 4)];
            (leaf.grad![TensorIndex.Colon, TensorIndex.Slice(3, 4)] - (alpha - Objectives.LucidBlur(alpha))).abs().max().item<float>().Should().BeLessThan(1e-6f);
        }

        FluentActions.Invoking(() => Objectives.BlurAlphaEachStep().Evaluate(new RenderContext(zeros(1, 3, 4, 4), new Dictionary<string, Tensor>())))
            .Should().Throw<CircuitsException>().WithMessage("*needs an image with an alpha channel*Set ParameterizationOptions.Alpha = true.");
    }

    [Fact]
    public void New_objectives_read_as_written()
    {
        using Tensor v = ones(3);
        Objectives.Direction("l", v, cossimPow: 2).Name.Should().Be("direction(l, cossim_pow=2)");
        Objectives.Direction("l", v).Name.Should().Be("direction(l)");
        Objectives.NeuronWeight("l", v, 1, 2).Name.Should().Be("neuron_weight(l@1,2)");
        Objectives.LocalGroupWeight("l", null, 1, 2, 3, 4).Name.Should().Be("localgroup_weight(l@1,2+3x4)");
        (Objectives.DotCompare("l", 1, 1) - (0.5 * Objectives.BlurAlphaEachStep())).Name
            .Should().Be("dot_compare(l, 1, cossim_pow=1) - 0.5 * blur_alpha_each_step(image)");
        FluentActions.Invoking(() => Objectives.ActivationDifference("l", 1, 1)).Should().Throw<ArgumentException>().WithMessage("*both are 1*");
        FluentActions.Invoking(() => Objectives.Direction("l", v, cossimPow: double.NaN)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void A_cossim_direction_has_a_finite_gradient_where_the_activation_vector_is_zero()
    {
        // A ReLU layer silent at a position gives a = 0 there; d|a|/da was infinite at 0 and the gradient became NaN
        // (seen as NaN images in activation atlas renders).
        Tensor a = zeros(new long[] { 1, 3, 2, 2 }).requires_grad_(true);
        var ctx = new RenderContext(zeros(1, 3, 4, 4), new Dictionary<string, Tensor> { ["l"] = a });
        Tensor v = tensor(new[] { 0f, 1f, 0f });
        foreach (Objective o in new[] { Objectives.Direction("l", v, cossimPow: 1), Objectives.DirectionNeuron("l", v, cossimPow: 4) })
        {
            Tensor grad = autograd.grad(new[] { o.Evaluate(ctx) }, new[] { a })[0];
            grad.isfinite().all().item<bool>().Should().BeTrue(o.Name);
        }
    }
}
