using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The checks that make the impulse methods exact or loud: linearity (a signed combination of impulses and its
/// negation must respond as the same combinations of the single impulses' responses) and translation invariance
/// (the all-channel probe must respond the same wherever it sits). Also the seeded random mixes they use.
/// </summary>
internal static class ImpulseChecks
{
    /// <summary>
    /// Random weights with magnitudes in [0.5, 1.5) and random signs, one per source channel. The linearity check
    /// pushes this mix and its negation, so every channel is tried with both signs: a rectifier that no hook
    /// linearized passes one of the two unchanged and zeroes the other.
    /// </summary>
    public static float[] SignedMix(int count, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            double magnitude = 0.5 + random.NextDouble();
            return (float)(random.Next(2) == 0 ? magnitude : -magnitude);
        }).ToArray();
    }

    /// <summary>Positive weights in [0.5, 1.5), one per source channel: the probe whose response's support measures how far responses reach (nothing cancels).</summary>
    public static Tensor AllChannelMix(long channels, int seed)
    {
        var random = new Random(seed + 1);
        return tensor(Enumerable.Range(0, (int)channels).Select(_ => (float)(0.5 + random.NextDouble())).ToArray());
    }

    /// <summary>A random direction in target-channel space (uniform in [-1, 1) per channel), on which responses are compared cheaply.</summary>
    public static Tensor Projection(long channels, int seed)
    {
        var random = new Random(seed + 2);
        return tensor(Enumerable.Range(0, (int)channels).Select(_ => (float)((2 * random.NextDouble()) - 1)).ToArray());
    }

    /// <summary>
    /// Throws <see cref="NonlinearPathException"/> unless the responses to the mix and to its negation
    /// (<paramref name="plus"/>, <paramref name="minus"/>) equal plus and minus the same combination of the single
    /// impulses' responses (<paramref name="singles"/>, one row per impulse), to 1e-3 of their scale.
    /// </summary>
    public static void CheckLinear(LinearizedPath path, string source, string target, Tensor singles, Tensor plus, Tensor minus, float[] mix)
    {
        using var scope = NewDisposeScope();
        Tensor expected = singles.reshape(singles.shape[0], -1).t().matmul(tensor(mix)).reshape(plus.shape);
        double error = Math.Max(expected.sub(plus).abs().max().item<float>(), expected.add(minus).abs().max().item<float>());
        double size = expected.abs().max().item<float>() + plus.abs().max().item<float>() + minus.abs().max().item<float>();
        if (!(error <= (1e-3 * size) + 1e-6))
        {
            throw NotLinear(path, source, target, $"a signed combination of impulses (or its negation) responds differently from the same combination of their responses, by {error:G3} (scale {size:G3})");
        }
    }

    /// <summary>
    /// Throws <see cref="NonlinearPathException"/> unless the responses to a source and to its negation
    /// (<paramref name="plus"/>, <paramref name="minus"/>) lie symmetrically around the response to zero
    /// (<paramref name="zero"/>), to 1e-3 of their scale: an affine map's do.
    /// </summary>
    public static void CheckOdd(LinearizedPath path, string source, string target, Tensor zero, Tensor plus, Tensor minus)
    {
        using var scope = NewDisposeScope();
        double error = plus.add(minus).sub(zero.mul(2)).abs().max().item<float>();
        double size = plus.sub(zero).abs().max().item<float>() + minus.sub(zero).abs().max().item<float>();
        if (!(error <= (1e-3 * size) + 1e-6))
        {
            throw NotLinear(path, source, target, $"a random signed source and its negation respond asymmetrically, by {error:G3} (scale {size:G3})");
        }
    }

    /// <summary>
    /// True when a tile's response (channels x (2 reachY + 1) x (2 reachX + 1), centred on the tile) equals the
    /// caller's map's <paramref name="support"/> around the target centre, and the support has nothing outside that window.
    /// </summary>
    public static bool SameResponse(Tensor tile, Tensor support, PathGeometry g, long reachY, long reachX)
    {
        using var scope = NewDisposeScope();
        long y0 = Math.Max(0, g.TargetCentreY - reachY), y1 = Math.Min(g.TargetHeight - 1, g.TargetCentreY + reachY);
        long x0 = Math.Max(0, g.TargetCentreX - reachX), x1 = Math.Min(g.TargetWidth - 1, g.TargetCentreX + reachX);
        Tensor b = support.narrow(1, y0, y1 - y0 + 1).narrow(2, x0, x1 - x0 + 1);
        Tensor a = tile.narrow(1, y0 - (g.TargetCentreY - reachY), y1 - y0 + 1).narrow(2, x0 - (g.TargetCentreX - reachX), x1 - x0 + 1);
        double size = b.abs().max().item<float>();
        double error = a.sub(b).abs().max().item<float>();
        double outside = OutsideSum(support, 1, y0, y1 - y0 + 1, x0, x1 - x0 + 1);
        double stray = OutsideSum(tile, 1, y0 - (g.TargetCentreY - reachY), y1 - y0 + 1, x0 - (g.TargetCentreX - reachX), x1 - x0 + 1);
        double tolerance = (1e-4 * size) + 1e-7;
        return error <= tolerance && outside <= tolerance && stray <= tolerance * tile.shape[0];
    }

    /// <summary>
    /// True when <paramref name="moved"/> (the all-channel probe's response with the probe moved by one target pixel
    /// per axis, in direction <paramref name="dy"/>, <paramref name="dx"/>) equals <paramref name="support"/> moved
    /// the same way, and neither has anything where the other cannot be compared.
    /// </summary>
    public static bool SameShifted(Tensor moved, Tensor support, int dy, int dx)
    {
        using var scope = NewDisposeScope();
        long h = support.shape[1] - 1, w = support.shape[2] - 1;
        Tensor a = moved.narrow(1, dy > 0 ? 1 : 0, h).narrow(2, dx > 0 ? 1 : 0, w);
        Tensor b = support.narrow(1, dy > 0 ? 0 : 1, h).narrow(2, dx > 0 ? 0 : 1, w);
        double size = b.abs().max().item<float>();
        double tolerance = (1e-4 * size) + 1e-7;
        double error = a.sub(b).abs().max().item<float>();
        double strayA = OutsideSum(moved, 1, dy > 0 ? 1 : 0, h, dx > 0 ? 1 : 0, w);
        double strayB = OutsideSum(support, 1, dy > 0 ? 0 : 1, h, dx > 0 ? 0 : 1, w);
        return error <= tolerance && strayA <= tolerance * support.shape[0] && strayB <= tolerance * support.shape[0];
    }

    /// <summary>
    /// The sum of |x| over everything outside the window (dimension <paramref name="dim"/> and the one after it),
    /// summed directly rather than as a difference of two large float sums, whose rounding error grows with the map
    /// and the thread count's summation order.
    /// </summary>
    private static double OutsideSum(Tensor x, long dim, long y, long height, long xStart, long width)
    {
        using Tensor outside = x.abs();
        outside.narrow(dim, y, height).narrow(dim + 1, xStart, width).zero_();
        return outside.sum(ScalarType.Float64).item<double>();
    }

    private static NonlinearPathException NotLinear(LinearizedPath path, string source, string target, string evidence)
    {
        string composites = path.Composites.Count == 0 ? "(none recorded)" : string.Join(", ", path.Composites.Distinct().Select(c => $"'{c}'"));
        return new NonlinearPathException(path.Composites.Count > 0 ? path.Composites[^1] : target,
            $"The path from '{source}' to '{target}' is not linear after linearizing its modules: {evidence}. " +
            $"A nonlinear op is called as a function inside a module's forward rather than as a module; modules with their own forward code on the path: {composites}. " +
            "Register the nonlinearity as a module (e.g. nn.ReLU) so that it can be linearized, or choose other layers.");
    }
}
