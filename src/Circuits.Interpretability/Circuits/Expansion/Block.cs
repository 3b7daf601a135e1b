using static TorchSharp.torch;

namespace Circuits.Interpretability.Circuits.Expansion;

/// <summary>
/// The derivatives of some target rows with respect to one node of a path over a rectangle of positions: either
/// dense (<see cref="G"/>: rows x channels x height x width, its first position at (<see cref="LoY"/>, <see cref="LoX"/>)),
/// or, before the first convolution, a selector (row i is <see cref="Coefficients"/>[i] times channel
/// <see cref="SelectedChannels"/>[i] at one position), which costs nothing to split, shift or scale.
/// </summary>
internal sealed class Block
{
    private Block(long[] rows, Tensor? g, Tensor? selected, Tensor? coefficients, long channelCount, long loY, long loX, bool owned = false)
    {
        Owned = owned;
        Rows = rows;
        DenseG = g;
        SelectedChannels = selected;
        Coefficients = coefficients;
        ChannelCount = channelCount;
        LoY = loY;
        LoX = loX;
    }

    /// <summary>Indices into the target list, one per row.</summary>
    public long[] Rows { get; }

    /// <summary>The node's channels.</summary>
    public long ChannelCount { get; }

    public long LoY { get; }

    public long LoX { get; }

    /// <summary>For a selector: each row's channel.</summary>
    public Tensor? SelectedChannels { get; }

    /// <summary>For a selector: each row's coefficient.</summary>
    public Tensor? Coefficients { get; }

    public bool IsSelector => DenseG is null;

    /// <summary>True when <see cref="G"/> was allocated by <see cref="Accumulate"/> and no other block shares it: later contributions are added in place.</summary>
    public bool Owned { get; }

    /// <summary>The dense derivatives (only for a dense block; see <see cref="Dense"/>).</summary>
    public Tensor G => DenseG ?? throw new InvalidOperationException("A selector has no dense derivatives; call Dense() first.");

    private Tensor? DenseG { get; }

    public long Height => DenseG?.shape[2] ?? 1;

    public long Width => DenseG?.shape[3] ?? 1;

    public static Block Select(long[] rows, long[] channels, long channelCount, long y, long x) =>
        new(rows, null, tensor(channels), ones(rows.Length), channelCount, y, x);

    public static Block FromDense(long[] rows, Tensor g, long loY, long loX) => new(rows, g, null, null, g.shape[1], loY, loX);

    /// <summary>The same derivatives as a dense block.</summary>
    public Block Dense()
    {
        if (DenseG is not null)
        {
            return this;
        }

        Tensor g = zeros(Rows.Length, ChannelCount, 1, 1);
        g.view(Rows.Length, ChannelCount).scatter_(1, SelectedChannels!.unsqueeze(1), Coefficients!.unsqueeze(1));
        return FromDense(Rows, g, LoY, LoX);
    }

    public Block Shifted(long dy, long dx) => new(Rows, DenseG, SelectedChannels, Coefficients, ChannelCount, LoY + dy, LoX + dx);

    /// <summary>Each channel times its factor (one factor: all channels).</summary>
    public Block Scaled(Tensor factors)
    {
        if (DenseG is not null)
        {
            return FromDense(Rows, DenseG.mul(factors.numel() == 1 ? factors : factors.reshape(1, -1, 1, 1)), LoY, LoX);
        }

        Tensor perRow = factors.numel() == 1 ? factors : factors.index_select(0, SelectedChannels!);
        return new Block(Rows, null, SelectedChannels, Coefficients!.mul(perRow), ChannelCount, LoY, LoX);
    }

    /// <summary>The channels first, ..., first + count - 1, renumbered from 0 (a branch of a concatenation); rows of a selector outside them go.</summary>
    public Block? Channels(long first, long count)
    {
        if (DenseG is not null)
        {
            return FromDense(Rows, DenseG.narrow(1, first, count), LoY, LoX);
        }

        long[] channels = SelectedChannels!.data<long>().ToArray();
        int[] keep = Enumerable.Range(0, Rows.Length).Where(i => channels[i] >= first && channels[i] < first + count).ToArray();
        if (keep.Length == 0)
        {
            return null;
        }

        Tensor index = tensor(keep.Select(i => (long)i).ToArray());
        return new Block(keep.Select(i => Rows[i]).ToArray(), null, SelectedChannels.index_select(0, index).sub(first), Coefficients!.index_select(0, index), count, LoY, LoX);
    }

    /// <summary>The part inside <paramref name="into"/>, or null when nothing is.</summary>
    public Block? Crop(Interval into)
    {
        var overlap = Interval.Intersect(new Interval(LoY, LoY + Height - 1, LoX, LoX + Width - 1), into);
        if (overlap is null)
        {
            return null;
        }

        if (DenseG is null || (overlap.Height == Height && overlap.Width == Width))
        {
            return this;
        }

        return FromDense(Rows, DenseG.narrow(2, overlap.LoY - LoY, overlap.Height).narrow(3, overlap.LoX - LoX, overlap.Width), overlap.LoY, overlap.LoX);
    }

    /// <summary>
    /// <paramref name="acc"/> plus <paramref name="incoming"/> (inside <paramref name="into"/>), as one block covering all
    /// of <paramref name="into"/>, with the rows of both when they agree and otherwise all <paramref name="targets"/>. A sum
    /// allocated here is owned, and later contributions are added to it in place.
    /// </summary>
    public static Block Accumulate(Block? acc, Block incoming, Interval into, long targets)
    {
        if (acc is null && (incoming.IsSelector || (incoming.LoY == into.LoY && incoming.LoX == into.LoX && incoming.Height == into.Height && incoming.Width == into.Width)))
        {
            return incoming;
        }

        if (acc is { Owned: true } && (acc.Rows.Length == targets || acc.Rows.SequenceEqual(incoming.Rows)))
        {
            acc.Add(incoming, into);
            return acc;
        }

        long[] rows = acc is null || acc.Rows.SequenceEqual(incoming.Rows) ? incoming.Rows : Enumerable.Range(0, (int)targets).Select(i => (long)i).ToArray();
        var sum = new Block(rows, zeros(rows.Length, incoming.ChannelCount, into.Height, into.Width), null, null, incoming.ChannelCount, into.LoY, into.LoX, owned: true);
        if (acc is not null)
        {
            sum.Add(acc, into);
        }

        sum.Add(incoming, into);
        return sum;
    }

    /// <summary>Adds <paramref name="part"/> into this owned block's window (its rows are this block's rows, or a subset of all targets when this block has them all).</summary>
    private void Add(Block part, Interval into)
    {
        Block dense = part.Dense();
        Tensor window = G.narrow(2, dense.LoY - into.LoY, dense.Height).narrow(3, dense.LoX - into.LoX, dense.Width);
        long[] r = dense.Rows;
        if (r.SequenceEqual(Rows))
        {
            window.add_(dense.G);
        }
        else if (r.Length > 0 && r[^1] - r[0] == r.Length - 1 && r.Zip(r.Skip(1)).All(p => p.Second == p.First + 1))
        {
            window.narrow(0, r[0], r.Length).add_(dense.G); // a run of rows, e.g. one branch of a concatenation
        }
        else
        {
            window.index_add_(0, tensor(r), dense.G, 1);
        }
    }
}
