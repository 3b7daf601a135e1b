using Circuits.Interpretability.Core;
using Circuits.Interpretability.Hooks;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits;

/// <summary>Where one branch's channels sit in a branched layer's output.</summary>
/// <param name="Branch">The branch's module path.</param>
/// <param name="Start">Its first channel in the layer's output.</param>
/// <param name="Count">Its channel count.</param>
public sealed record BranchRange(string Branch, int Start, int Count)
{
    /// <summary>Whether the layer's channel <paramref name="channel"/> comes from this branch.</summary>
    public bool Contains(int channel) => channel >= Start && channel < Start + Count;
}

/// <summary>
/// Branch specialization (the Circuits thread's article): in a layer whose output concatenates branches, which branch
/// each unit comes from, how a family of units spreads over the branches, and how unlikely it would be for a family to
/// land in one branch by chance. Model-agnostic: the branches' positions are found by running the model, not read from
/// its code.
/// </summary>
public static class BranchSpecialization
{
    /// <summary>
    /// Finds each branch's channel range in <paramref name="layer"/>'s output: one forward pass on a seeded random input
    /// (channels x height x width, through <paramref name="preprocess"/>) captures the layer and the branches, and each
    /// branch's output is located where it equals a slice of the layer's output. Ranges are returned in channel order.
    /// </summary>
    /// <exception cref="UnknownLayerException">A layer does not exist.</exception>
    /// <exception cref="CircuitsException">A branch's output is not a slice of the layer's, or the branches do not tile the layer's channels.</exception>
    public static IReadOnlyList<BranchRange> ChannelRanges(nn.Module<Tensor, Tensor> model, string layer, IReadOnlyList<string> branches, long[] inputShape, Func<Tensor, Tensor>? preprocess = null, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(branches);
        ArgumentNullException.ThrowIfNull(inputShape);
        using var scope = NewDisposeScope();
        Tensor input = rand(new long[] { 1 }.Concat(inputShape).ToArray(), generator: new Generator((ulong)seed));
        Device device = model.parameters().FirstOrDefault()?.device ?? CPU;
        bool wasTraining = model.training;
        model.eval();
        CaptureResult captured;
        try
        {
            captured = ActivationCapture.Capture(model, (preprocess is null ? input : preprocess(input)).to(device), branches.Append(layer));
        }
        finally
        {
            model.train(wasTraining);
        }

        using (captured)
        {
            Tensor whole = captured[layer];
            long channels = whole.shape[1];
            var ranges = new List<BranchRange>();
            foreach (string branch in branches)
            {
                Tensor part = captured[branch];
                long width = part.dim() >= 2 ? part.shape[1] : 0;
                int start = -1;
                for (long s = 0; part.dim() == whole.dim() && s + width <= channels; s++)
                {
                    if (part.shape.Skip(2).SequenceEqual(whole.shape.Skip(2)) && whole.narrow(1, s, width).allclose(part, 1e-6, 1e-6))
                    {
                        start = (int)s;
                        break;
                    }
                }

                if (start < 0)
                {
                    throw new CircuitsException($"The output of '{branch}' ([{string.Join(", ", part.shape)}]) is not a channel slice of '{layer}' ([{string.Join(", ", whole.shape)}]); expected the layer to concatenate its branches' outputs.");
                }

                ranges.Add(new BranchRange(branch, start, (int)width));
            }

            ranges.Sort((a, b) => a.Start.CompareTo(b.Start));
            int next = 0;
            foreach (BranchRange r in ranges)
            {
                if (r.Start != next)
                {
                    throw new CircuitsException($"The branches do not tile '{layer}''s {channels} channels: a gap or overlap at channel {next} (next branch '{r.Branch}' starts at {r.Start}).");
                }

                next = r.Start + r.Count;
            }

            if (next != channels)
            {
                throw new CircuitsException($"The branches cover channels 0 to {next - 1} of '{layer}', which has {channels}; name every branch.");
            }

            return ranges;
        }
    }

    /// <summary>The branch holding <paramref name="channel"/>.</summary>
    /// <exception cref="UnitOutOfRangeException">No range holds it.</exception>
    public static BranchRange BranchOf(IReadOnlyList<BranchRange> ranges, int channel)
    {
        ArgumentNullException.ThrowIfNull(ranges);
        return ranges.FirstOrDefault(r => r.Contains(channel))
            ?? throw new UnitOutOfRangeException($"Channel {channel} is in no branch; the branches cover 0 to {ranges.Sum(r => r.Count) - 1}.");
    }

    /// <summary>How many of <paramref name="units"/> each branch holds, in the ranges' order.</summary>
    public static IReadOnlyList<(BranchRange Branch, int Count)> Counts(IReadOnlyList<BranchRange> ranges, IEnumerable<int> units)
    {
        ArgumentNullException.ThrowIfNull(units);
        var list = units.ToList();
        return ranges.Select(r => (r, list.Count(r.Contains))).ToList();
    }

    /// <summary>
    /// The chance that a family of <paramref name="familySize"/> units, placed at random among a layer's
    /// <paramref name="layerWidth"/> units, all land in one given branch of <paramref name="branchWidth"/> units:
    /// C(b, k) / C(n, k) = prod_{i &lt; k} (b - i) / (n - i). The article's examples: 9 of 256 in 32 (below 1e-8) and
    /// 30 of 480 in 96 (below 1e-20).
    /// </summary>
    /// <exception cref="CircuitsException">The sizes are negative or inconsistent.</exception>
    public static double ChanceAllInBranch(int layerWidth, int branchWidth, int familySize)
    {
        if (familySize < 0 || branchWidth < 0 || branchWidth > layerWidth || familySize > layerWidth)
        {
            throw new CircuitsException($"A family of {familySize} in a branch of {branchWidth} out of {layerWidth} units is not possible; expected 0 <= family, branch <= layer.");
        }

        double p = 1;
        for (int i = 0; i < familySize; i++)
        {
            p *= Math.Max(0, branchWidth - i) / (double)(layerWidth - i);
        }

        return p;
    }
}
