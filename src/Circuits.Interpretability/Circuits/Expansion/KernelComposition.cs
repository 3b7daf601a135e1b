using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The analytic method (docs/circuits.md, "kernel composition"): the path's ops are read from a trace of one
/// shape-only run (<see cref="LinearOpReader"/>), their kernels are composed backwards from the target
/// (<see cref="KernelBackprop"/>), and the reading is verified against the model itself before it is used: on a map
/// cut down to the part that matters, the model's linearized path and the composed ops must give the same response
/// to a random signed source and, by linearity, minus that response to its negation. Returns null (and the caller
/// falls back to the impulse methods) when an op cannot be composed or the verification fails.
/// </summary>
internal static class KernelComposition
{
    /// <summary>
    /// Target pixels kept around the part of the map that matters when the verification map is cut down: none, since
    /// every position of that map is compared (its borders included), and the target's centre reads all of it.
    /// </summary>
    private const long VerificationMargin = 0;

    /// <summary>
    /// The weights (targets x sources x crop x crop, on the CPU) from the ops in <paramref name="trace"/>, a trace of the
    /// caller's map; or null with the reason in <paramref name="detail"/>.
    /// </summary>
    /// <exception cref="NonlinearPathException">The path responds to a source and its negation other than as a linear map.</exception>
    public static Tensor? Compute(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, PathGeometry g, PathTrace trace, ExpandedWeightsOptions options,
        IProgress<ExpandedWeightsProgress>? progress, CancellationToken cancellationToken, out string detail)
    {
        LinearOp?[]? ops = LinearOpReader.Read(trace, out detail);
        if (ops is null)
        {
            return null;
        }

        long[][] strides = Strides(trace, ops);
        if (strides[trace.Target][0] != g.StrideY || strides[trace.Target][1] != g.StrideX)
        {
            detail = $"the ops' stride ({strides[trace.Target][0]}, {strides[trace.Target][1]}) is not the path's ({g.StrideY}, {g.StrideX})";
            return null;
        }

        Block? composed = KernelBackprop.Compose(trace, ops, g, cancellationToken);
        progress?.Report(new ExpandedWeightsProgress(ExpandedWeightMethod.KernelComposition, 1, 2));
        cancellationToken.ThrowIfCancellationRequested();
        string? failure = Verify(path, inputShape, sourceLayer, targetLayer, g, trace, ops, strides, options, out string map);
        if (failure is not null)
        {
            detail = failure;
            return null;
        }

        progress?.Report(new ExpandedWeightsProgress(ExpandedWeightMethod.KernelComposition, 2, 2));
        detail = $"{ops.Count(o => o is not null and not SourceOp)} ops composed, verified on a {map} map";
        return Crop(composed, g);
    }

    /// <summary>W[t, s, i, j] = the composed derivative at source channel s, position p0 + (i - r, j - r); 0 where none was composed.</summary>
    private static Tensor Crop(Block? composed, PathGeometry g)
    {
        if (composed is null)
        {
            return zeros(g.TargetChannels.Count, g.SourceChannels.Count, g.CropSize, g.CropSize);
        }

        int r = g.CropReach;
        bool allSources = g.SourceChannels.Count == g.SourceChannelCount && g.SourceChannels.Select((c, i) => c == i).All(x => x);
        bool allRows = composed.Rows.Length == g.TargetChannels.Count && composed.Rows.Select((row, i) => row == i).All(x => x);
        if (allSources && allRows && composed.LoY == g.SourceCentreY - r && composed.LoX == g.SourceCentreX - r && composed.Height == g.CropSize && composed.Width == g.CropSize)
        {
            return composed.G; // the window is the crop and nothing is left out: no copy
        }

        Tensor selected = allSources ? composed.G : composed.G.index_select(1, tensor(g.SourceChannels.Select(s => (long)s).ToArray()));
        Tensor weights = zeros(g.TargetChannels.Count, g.SourceChannels.Count, g.CropSize, g.CropSize);
        Tensor window = weights.narrow(2, composed.LoY - (g.SourceCentreY - r), composed.Height).narrow(3, composed.LoX - (g.SourceCentreX - r), composed.Width);
        window.index_copy_(0, tensor(composed.Rows), selected);
        return weights;
    }

    /// <summary>Each node's total stride relative to the source, per axis.</summary>
    private static long[][] Strides(PathTrace trace, LinearOp?[] ops)
    {
        var strides = new long[ops.Length][];
        for (int n = 0; n < ops.Length; n++)
        {
            strides[n] = ops[n] switch
            {
                null => new long[] { 1, 1 },
                SourceOp => new long[] { 1, 1 },
                LinearOp op => new[] { strides[op.Inputs[0]][0] * op.Stride(0), strides[op.Inputs[0]][1] * op.Stride(1) },
            };
        }

        return strides;
    }

    /// <summary>
    /// Null when the model's linearized path and the composed ops agree on a cut-down map, else why not. The map is the
    /// caller's, less whole target pixels at each border that no op on the way to the target's centre reaches (a whole
    /// target pixel keeps every op's alignment and padding).
    /// </summary>
    private static string? Verify(LinearizedPath path, long[] inputShape, string sourceLayer, string targetLayer, PathGeometry g, PathTrace trace, LinearOp?[] ops, long[][] strides,
        ExpandedWeightsOptions options, out string map)
    {
        var (top, bottom, left, right) = Removable(trace, ops, strides, g);
        long height = g.SourceHeight - (g.StrideY * (top + bottom)), width = g.SourceWidth - (g.StrideX * (left + right));
        map = $"{height} x {width}";
        var generator = new Generator((ulong)options.Seed + 3);
        Tensor m = rand(new[] { 1, g.SourceChannelCount, height, width }, generator: generator).add(0.5)
            .mul(rand(new[] { 1, g.SourceChannelCount, height, width }, generator: generator).lt(0.5).to(ScalarType.Float32).mul(2).sub(1));
        Tensor source = cat(new[] { zeros_like(m), m, m.neg() }, 0);
        var valued = new PathTrace();
        Tensor output;
        path.Observer = valued;
        try
        {
            output = path.RunOnZeros(inputShape, 3, real => LinearizedPath.ReplaceSource(real, source, sourceLayer, sameSize: false), keepGraph: false).to(ScalarType.Float32).cpu();
        }
        catch (Exception e) when (e is not CircuitsException)
        {
            return $"the model rejects a {map} source map";
        }
        finally
        {
            path.Observer = null;
        }

        if (valued.Target != trace.Target || valued.Nodes.Count != trace.Nodes.Count
            || valued.Nodes.Zip(trace.Nodes).Any(p => p.First.Kind != p.Second.Kind || !ReferenceEquals(p.First.Module, p.Second.Module) || !p.First.Inputs.SequenceEqual(p.Second.Inputs)))
        {
            return $"the path runs differently on a {map} source map";
        }

        ImpulseChecks.CheckOdd(path, sourceLayer, targetLayer, output[0], output[1], output[2]);
        LinearOp?[]? readAgain = LinearOpReader.Read(valued, out string reason);
        if (readAgain is null)
        {
            return reason;
        }

        Tensor?[] values = new Tensor?[readAgain.Length];
        values[0] = m;
        for (int n = 1; n < readAgain.Length; n++)
        {
            if (readAgain[n] is LinearOp op)
            {
                values[n] = op.Apply(op.Inputs.Select(i => values[i]!).ToArray());
            }
        }

        Tensor expected = output[1].sub(output[2]).div(2);
        Tensor composed = values[valued.Target]![0];
        double scale = expected.abs().max().item<float>();
        double error = composed.sub(expected).abs().max().item<float>();
        return error <= (1e-4 * scale) + 1e-7 ? null : $"the composed ops differ from the model's path by {error:G3} (scale {scale:G3}) on a {map} map";
    }

    /// <summary>
    /// Target pixels that can go at each border (top, bottom, left, right) without any op on the way to the target's
    /// centre getting closer than <see cref="VerificationMargin"/> target pixels to a border of its map.
    /// </summary>
    private static (long Top, long Bottom, long Left, long Right) Removable(PathTrace trace, LinearOp?[] ops, long[][] strides, PathGeometry g)
    {
        long top = long.MaxValue, bottom = long.MaxValue, left = long.MaxValue, right = long.MaxValue;
        var reach = new (long LoY, long HiY, long LoX, long HiX)?[ops.Length];
        reach[trace.Target] = (g.TargetCentreY, g.TargetCentreY, g.TargetCentreX, g.TargetCentreX);
        for (int n = trace.Target; n >= 0; n--)
        {
            if (reach[n] is not { } at)
            {
                continue;
            }

            var (loY, hiY, loX, hiX) = at;
            // One target pixel is (stride of the path / stride of this node) pixels of this node's map.
            long[] shape = trace.Nodes[n].Shape;
            long perY = g.StrideY / Math.Max(1, strides[n][0]), perX = g.StrideX / Math.Max(1, strides[n][1]);
            top = Math.Min(top, FloorDiv(loY, perY) - VerificationMargin);
            bottom = Math.Min(bottom, FloorDiv(shape[2] - 1 - hiY, perY) - VerificationMargin);
            left = Math.Min(left, FloorDiv(loX, perX) - VerificationMargin);
            right = Math.Min(right, FloorDiv(shape[3] - 1 - hiX, perX) - VerificationMargin);
            if (ops[n] is not LinearOp op)
            {
                continue;
            }

            foreach (int input in op.Inputs)
            {
                var reads = ((op.Stride(0) * loY) + op.Offset(0), (op.Stride(0) * hiY) + op.Offset(0) + op.Extent(0) - 1,
                    (op.Stride(1) * loX) + op.Offset(1), (op.Stride(1) * hiX) + op.Offset(1) + op.Extent(1) - 1);
                reach[input] = reach[input] is { } known ? (Math.Min(known.LoY, reads.Item1), Math.Max(known.HiY, reads.Item2), Math.Min(known.LoX, reads.Item3), Math.Max(known.HiX, reads.Item4)) : reads;
            }
        }

        return (Math.Max(0, top), Math.Max(0, bottom), Math.Max(0, left), Math.Max(0, right));
    }

    private static long FloorDiv(long a, long b) => (long)Math.Floor((double)a / b);
}
