using Circuits.Interpretability.Core;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// Shapes, channels, alignment and stride of a source-target pair, validated: the source map A is
/// <see cref="SourceChannelCount"/> x <see cref="SourceHeight"/> x <see cref="SourceWidth"/>, the target map B is
/// <see cref="TargetHeight"/> x <see cref="TargetWidth"/>; weights are read at the target's centre
/// (<see cref="TargetCentreY"/>, <see cref="TargetCentreX"/>) around the aligned source position
/// (<see cref="SourceCentreY"/>, <see cref="SourceCentreX"/>).
/// </summary>
internal sealed record PathGeometry(
    long SourceChannelCount, long SourceHeight, long SourceWidth, long TargetChannelCount, long TargetHeight, long TargetWidth,
    IReadOnlyList<int> SourceChannels, IReadOnlyList<int> TargetChannels, int CropSize, int StrideY, int StrideX,
    long TargetCentreY, long TargetCentreX, long SourceCentreY, long SourceCentreX)
{
    /// <summary>Stride phases: source positions per target position, both axes together (1 for a stride-1 path).</summary>
    public int Phases => StrideY * StrideX;

    /// <summary>The crop's reach from its centre, (crop - 1) / 2.</summary>
    public int CropReach => CropSize / 2;

    /// <summary>True when every target channel is wanted, in order.</summary>
    public bool AllTargets => TargetChannels.Count == TargetChannelCount && TargetChannels.Select((t, i) => t == i).All(x => x);

    /// <summary>The geometry from two shape-only passes of the path (the target's shape, then the stride).</summary>
    public static PathGeometry Probe(LinearizedPath path, string source, string target, long[] inputShape, ExpandedWeightsOptions options)
    {
        Validate(inputShape, options);
        var (a, b) = Shapes(path, inputShape);
        return FromShapes(path, source, target, inputShape, options, a, b);
    }

    /// <summary>Throws when the input shape, crop size or stride option cannot be used.</summary>
    public static void Validate(long[] inputShape, ExpandedWeightsOptions options)
    {
        if (inputShape.Length == 0 || inputShape.Any(d => d <= 0))
        {
            throw new CircuitsException($"Input shape [{string.Join(", ", inputShape)}] is not valid; expected the positive sizes of one input without the batch axis, e.g. [3, 224, 224].");
        }

        if (options.CropSize <= 0 || options.CropSize % 2 == 0)
        {
            throw new CircuitsException($"Crop size {options.CropSize} is not valid; expected a positive odd number such as 3, 5 or 7.");
        }

        if (options.Stride is <= 0)
        {
            throw new CircuitsException($"Stride {options.Stride} is not valid; expected a positive number, or null to infer it.");
        }
    }

    /// <summary>The geometry from the two layers' output shapes <paramref name="a"/> and <paramref name="b"/> (batch axis included).</summary>
    public static PathGeometry FromShapes(LinearizedPath path, string source, string target, long[] inputShape, ExpandedWeightsOptions options, long[] a, long[] b)
    {
        if (a.Length != 4 || b.Length != 4)
        {
            throw new CircuitsException($"Expanded weights need spatial maps (N x C x H x W) at both layers; '{source}' gives [{string.Join(", ", a)}] and '{target}' gives [{string.Join(", ", b)}].");
        }

        var sources = Channels(options.SourceChannels, a[1], source, "source");
        var targets = Channels(options.TargetChannels, b[1], target, "target");
        var (sy, sx) = options.Stride is int stride ? (stride, stride) : InferStride(path, inputShape, a, b);
        long q0y = b[2] / 2;
        long q0x = b[3] / 2;
        long p0y = (long)Math.Floor((q0y + 0.5) * a[2] / b[2]);
        long p0x = (long)Math.Floor((q0x + 0.5) * a[3] / b[3]);
        int r = options.CropSize / 2;
        bool fits = p0y - r >= 0 && p0y + Math.Max(r, sy - 1) < a[2] && p0x - r >= 0 && p0x + Math.Max(r, sx - 1) < a[3]
            && ReadAt(-r, sy, q0y).Position < b[2] && ReadAt(r, sy, q0y).Position >= 0
            && ReadAt(-r, sx, q0x).Position < b[3] && ReadAt(r, sx, q0x).Position >= 0;
        if (!fits)
        {
            throw new CircuitsException(
                $"Input shape [{string.Join(", ", inputShape)}] gives '{source}' a {a[2]} x {a[3]} map and '{target}' a {b[2]} x {b[3]} map, too small for crop size {options.CropSize} " +
                $"around source position ({p0y}, {p0x}) and target position ({q0y}, {q0x}). Use a larger input shape or a smaller CropSize.");
        }

        return new PathGeometry(a[1], a[2], a[3], b[1], b[2], b[3], sources, targets, options.CropSize, sy, sx, q0y, q0x, p0y, p0x);
    }

    /// <summary>
    /// Where the weight at offset <paramref name="offset"/> from the aligned source position is read (per axis): an
    /// impulse of phase u = offset mod stride, at target position <paramref name="centre"/> - (offset - u) / stride.
    /// </summary>
    public static (int Phase, long Position) ReadAt(int offset, int stride, long centre)
    {
        int u = ((offset % stride) + stride) % stride;
        return (u, centre - ((offset - u) / stride));
    }

    /// <summary>The source's and the target's output shapes (batch axis included) from one pass with nothing replaced.</summary>
    public static (long[] Source, long[] Target) Shapes(LinearizedPath path, long[] inputShape)
    {
        long[] a = Array.Empty<long>();
        using var scope = NewDisposeScope();
        Tensor output = path.RunOnZeros(inputShape, 1, real =>
        {
            a = real.shape;
            return real.alias();
        }, keepGraph: false);
        return (a, output.shape);
    }

    /// <summary>
    /// The total stride per axis: the growth of the source map over the growth of the target map when the
    /// input's spatial size doubles (exact for "same" and "valid" padding alike, where the size ratio of
    /// one input is not: 12 -> 8 through two valid 3x3 convs has stride 1). Falls back to the rounded size
    /// ratio when the model does not accept the larger input.
    /// </summary>
    private static (int Y, int X) InferStride(LinearizedPath path, long[] inputShape, long[] a, long[] b)
    {
        static int Ratio(double source, double target) => (int)Math.Max(1, Math.Round(source / Math.Max(target, 1), MidpointRounding.AwayFromZero));
        if (a[2] == b[2] && a[3] == b[3])
        {
            return (1, 1);
        }

        long[] larger = inputShape.Select((d, i) => i == 0 && inputShape.Length > 1 ? d : 2 * d).ToArray();
        try
        {
            var (a2, b2) = Shapes(path, larger);
            return (Ratio(a2[2] - a[2], b2[2] - b[2]), Ratio(a2[3] - a[3], b2[3] - b[3]));
        }
        catch (Exception e) when (e is not CircuitsException)
        {
            return (Ratio(a[2], b[2]), Ratio(a[3], b[3]));
        }
    }

    private static IReadOnlyList<int> Channels(IReadOnlyList<int>? chosen, long count, string layer, string role)
    {
        if (chosen is null)
        {
            return Enumerable.Range(0, (int)count).ToList();
        }

        if (chosen.Count == 0)
        {
            throw new UnitOutOfRangeException($"No {role} channels of '{layer}' were chosen; expected channels from 0 to {count - 1}, or null for all.");
        }

        foreach (int c in chosen)
        {
            if (c < 0 || c >= count)
            {
                throw new UnitOutOfRangeException($"Channel {c} is outside {role} layer '{layer}', which has channels 0 to {count - 1}.");
            }
        }

        return chosen.ToList();
    }
}
