using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>
/// Expanded weights between two layers: <see cref="Weights"/>[t, s, i, j] is the linear effect of source
/// channel <see cref="SourceChannels"/>[s] at offset (i - r, j - r), r = (<see cref="CropSize"/> - 1) / 2, from the
/// source position aligned with a target position, on target channel <see cref="TargetChannels"/>[t] at that
/// position, laid out like a convolution kernel (out, in, kh, kw).
/// </summary>
public sealed class ExpandedWeightSet : IDisposable
{
    private Tensor? _weights;

    internal ExpandedWeightSet(string sourceLayer, string targetLayer, IReadOnlyList<int> sourceChannels, IReadOnlyList<int> targetChannels, Tensor weights, int strideY, int strideX,
        ExpandedWeightMethod method, string methodDetail)
    {
        Method = method;
        MethodDetail = methodDetail;
        SourceLayer = sourceLayer;
        TargetLayer = targetLayer;
        SourceChannels = sourceChannels;
        TargetChannels = targetChannels;
        _weights = weights;
        CropSize = (int)weights.shape[2];
        Stride = (strideY, strideX);
    }

    /// <summary>Which method computed the weights (all give the same weights; this is for the record and for performance work).</summary>
    public ExpandedWeightMethod Method { get; }

    /// <summary>
    /// How the method ran, in words: for packed impulses the layout (e.g. "4 x 5 tiles 5 x 5 apart on 13 maps of 22 x 27"),
    /// for a fallback the reason (e.g. "the path is not translation invariant"); empty when there is nothing to add.
    /// </summary>
    public string MethodDetail { get; }

    /// <summary>The source layer's path.</summary>
    public string SourceLayer { get; }

    /// <summary>The target layer's path.</summary>
    public string TargetLayer { get; }

    /// <summary>The source channels, in the order of the second axis of <see cref="Weights"/>.</summary>
    public IReadOnlyList<int> SourceChannels { get; }

    /// <summary>The target channels, in the order of the first axis of <see cref="Weights"/>.</summary>
    public IReadOnlyList<int> TargetChannels { get; }

    /// <summary>The weights, targets x sources x crop x crop, float32 on the CPU. Owned by this set: valid until it is disposed.</summary>
    /// <exception cref="ObjectDisposedException">The set was disposed.</exception>
    public Tensor Weights => _weights ?? throw new ObjectDisposedException(nameof(ExpandedWeightSet), $"The expanded weights from '{SourceLayer}' to '{TargetLayer}' were disposed; compute them again or keep the set alive while you use them.");

    /// <summary>The side of the spatial window.</summary>
    public int CropSize { get; }

    /// <summary>The total stride of the path (source positions per target position), per axis.</summary>
    public (int Y, int X) Stride { get; }

    /// <summary>The crop x crop spatial map from source channel <paramref name="sourceChannel"/> to target channel <paramref name="targetChannel"/> (channel numbers, not indices).</summary>
    /// <exception cref="UnitOutOfRangeException">A channel is not in this set.</exception>
    public Tensor Get(int targetChannel, int sourceChannel) => Weights[TargetIndex(targetChannel), SourceIndex(sourceChannel)];

    /// <summary>The spatial map as a [row, column] array.</summary>
    public float[,] Map(int targetChannel, int sourceChannel)
    {
        float[] values = Get(targetChannel, sourceChannel).contiguous().data<float>().ToArray();
        var map = new float[CropSize, CropSize];
        Buffer.BlockCopy(values, 0, map, 0, values.Length * sizeof(float));
        return map;
    }

    /// <summary>The strength of a connection: the L2 norm of its spatial map.</summary>
    public double Strength(int targetChannel, int sourceChannel)
    {
        using var scope = NewDisposeScope();
        return Get(targetChannel, sourceChannel).square().sum().sqrt().item<float>();
    }

    /// <summary>
    /// The <paramref name="count"/> source channels with the strongest connection to <paramref name="targetChannel"/>,
    /// strongest first. Strengths (<see cref="Strength"/>) are compared at <see cref="RankingDigits"/> significant
    /// digits, so that maps equal by design (mirror images, whose float32 norms differ in the last bits) tie; ties go
    /// by source channel, lowest first. The returned strengths are not rounded.
    /// </summary>
    /// <exception cref="CircuitsException"><paramref name="count"/> is not positive.</exception>
    public IReadOnlyList<(int SourceChannel, double Strength)> TopSources(int targetChannel, int count)
    {
        if (count <= 0)
        {
            throw new CircuitsException($"The number of top sources is {count}; expected 1 or more.");
        }

        using var scope = NewDisposeScope();
        float[] norms = Weights[TargetIndex(targetChannel)].square().sum(new long[] { 1, 2 }).sqrt().contiguous().data<float>().ToArray();
        return norms.Select((n, i) => (SourceChannels[i], (double)n))
            .OrderByDescending(t => RankingKey(t.Item2))
            .ThenBy(t => t.Item1)
            .Take(count)
            .ToList();
    }

    /// <summary>The significant digits at which <see cref="TopSources"/> compares strengths (6: float32 noise lies below, differences by design above).</summary>
    public const int RankingDigits = 6;

    /// <summary>A strength rounded to <see cref="RankingDigits"/> significant digits: the value <see cref="TopSources"/> ranks by.</summary>
    public static double RankingKey(double strength) =>
        double.Parse(strength.ToString("G" + RankingDigits, System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Frees the weights; later calls do nothing, and reading <see cref="Weights"/> afterwards throws.</summary>
    public void Dispose()
    {
        Interlocked.Exchange(ref _weights, null)?.Dispose();
    }

    /// <summary>The layers, the size and the method, e.g. "mixed3a -> mixed3b: 480 x 256 x 5 x 5 (PackedImpulses: ...)".</summary>
    public override string ToString() =>
        $"{SourceLayer} -> {TargetLayer}: {TargetChannels.Count} x {SourceChannels.Count} x {CropSize} x {CropSize} ({Method}{(MethodDetail.Length > 0 ? ": " + MethodDetail : string.Empty)})";

    private int TargetIndex(int channel) => IndexOf(TargetChannels, channel, TargetLayer, "target");

    private int SourceIndex(int channel) => IndexOf(SourceChannels, channel, SourceLayer, "source");

    private static int IndexOf(IReadOnlyList<int> channels, int channel, string layer, string role)
    {
        for (int i = 0; i < channels.Count; i++)
        {
            if (channels[i] == channel)
            {
                return i;
            }
        }

        string listed = channels.Count <= 12 ? string.Join(", ", channels) : $"{string.Join(", ", channels.Take(12))}, ... ({channels.Count} in all)";
        throw new UnitOutOfRangeException($"Channel {channel} of {role} layer '{layer}' is not in this set of expanded weights; its {role} channels are {listed}.");
    }
}
