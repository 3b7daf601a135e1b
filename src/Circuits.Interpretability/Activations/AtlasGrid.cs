using Circuits.Interpretability.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Activations;

/// <summary>One occupied cell of an <see cref="AtlasGrid"/>.</summary>
/// <param name="Column">Column (x), 0 at the left.</param>
/// <param name="Row">Row (y), 0 at the top.</param>
/// <param name="Count">How many samples fell in the cell.</param>
/// <param name="Members">The indices of those samples, ascending.</param>
public sealed record AtlasCell(int Column, int Row, int Count, IReadOnlyList<int> Members);

/// <summary>
/// A grid laid over a 2-D layout of activation samples, as the activation atlas and Captum's atlas utilities do: the
/// layout is normalized (clipped to its 1st..99th percentiles widened by a 10 % margin, then scaled to [0, 1]; Captum's
/// <c>normalize_grid</c>), divided into Columns x Rows cells (cell (i, j) holds x in [i/C, (i+1)/C), the last column and
/// row closed), and every cell with at least <c>minDensity</c> samples keeps the mean of its samples' activations: the
/// direction its icon is rendered from.
/// </summary>
public sealed class AtlasGrid : IDisposable
{
    private AtlasGrid(int columns, int rows, IReadOnlyList<AtlasCell> cells, Tensor means, Tensor normalized)
    {
        Columns = columns;
        Rows = rows;
        Cells = cells;
        Means = means;
        NormalizedLayout = normalized;
    }

    /// <summary>Cells across.</summary>
    public int Columns { get; }

    /// <summary>Cells down.</summary>
    public int Rows { get; }

    /// <summary>The cells with enough samples, row by row (top first), left to right.</summary>
    public IReadOnlyList<AtlasCell> Cells { get; }

    /// <summary>Cells x C: the mean activation vector of each cell in <see cref="Cells"/> (float32).</summary>
    public Tensor Means { get; }

    /// <summary>N x 2: the layout after normalization, in [0, 1] (float32).</summary>
    public Tensor NormalizedLayout { get; }

    /// <summary>Builds the grid from a layout (N x 2) and the samples' activations (N x C).</summary>
    /// <exception cref="CircuitsException">The shapes disagree, the grid size or density is not positive, or no cell has enough samples.</exception>
    public static AtlasGrid Build(Tensor layout, Tensor activations, int columns, int rows, int minDensity = 8, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(layout);
        ArgumentNullException.ThrowIfNull(activations);
        if (layout.dim() != 2 || layout.shape[1] != 2 || activations.dim() != 2 || activations.shape[0] != layout.shape[0])
        {
            throw new CircuitsException($"An atlas grid needs a layout N x 2 and activations N x C for the same N; got [{string.Join(", ", layout.shape)}] and [{string.Join(", ", activations.shape)}].");
        }

        if (columns < 1 || rows < 1 || minDensity < 1)
        {
            throw new CircuitsException($"Grid {columns} x {rows} with minimum density {minDensity} is not valid; expected positive values.");
        }

        using var scope = NewDisposeScope();
        Tensor xy = layout.detach().to(ScalarType.Float64).cpu();
        if (normalize)
        {
            xy = Normalize(xy);
        }

        double[] v = xy.contiguous().data<double>().ToArray();
        int n = (int)xy.shape[0];
        var members = new List<int>[rows, columns];
        for (int i = 0; i < n; i++)
        {
            int cx = Math.Clamp((int)Math.Floor(v[2 * i] * columns), 0, columns - 1);
            int cy = Math.Clamp((int)Math.Floor(v[(2 * i) + 1] * rows), 0, rows - 1);
            (members[cy, cx] ??= new List<int>()).Add(i);
        }

        var cells = new List<AtlasCell>();
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                if (members[r, c] is { } m && m.Count >= minDensity)
                {
                    cells.Add(new AtlasCell(c, r, m.Count, m));
                }
            }
        }

        if (cells.Count == 0)
        {
            throw new CircuitsException($"No cell of the {columns} x {rows} grid has {minDensity} samples ({n} samples in all); use a coarser grid or a lower minimum density.");
        }

        Tensor acts = activations.detach().to(ScalarType.Float32).cpu();
        Tensor means = stack(cells.Select(cell => acts.index_select(0, tensor(cell.Members.Select(i => (long)i).ToArray())).mean(new long[] { 0 })).ToArray(), 0);
        return new AtlasGrid(columns, rows, cells, means.DetachFromDisposeScope(), xy.to(ScalarType.Float32).DetachFromDisposeScope());
    }

    /// <summary>
    /// Captum's <c>normalize_grid</c>: per axis, clip to [q01 - 0.1 (q99 - q01), q99 + 0.1 (q99 - q01)] and rescale the clipped
    /// values' range to [0, 1] (a constant axis becomes 0).
    /// </summary>
    public static Tensor Normalize(Tensor layout, double minPercentile = 0.01, double maxPercentile = 0.99, double relativeMargin = 0.1)
    {
        ArgumentNullException.ThrowIfNull(layout);
        if (!(minPercentile >= 0 && minPercentile < maxPercentile && maxPercentile <= 1) || relativeMargin < 0)
        {
            throw new CircuitsException($"Percentiles {minPercentile} and {maxPercentile} with margin {relativeMargin} are not valid; expected 0 <= min < max <= 1 and a margin of 0 or more.");
        }

        using var scope = NewDisposeScope();
        Tensor xy = layout.detach().to(ScalarType.Float64);
        Tensor lo = quantile(xy, tensor(minPercentile, ScalarType.Float64), 0, false);
        Tensor hi = quantile(xy, tensor(maxPercentile, ScalarType.Float64), 0, false);
        Tensor span = hi.sub(lo);
        Tensor clipped = xy.maximum(lo.sub(span.mul(relativeMargin))).minimum(hi.add(span.mul(relativeMargin)));
        Tensor shifted = clipped.sub(clipped.min(0L).values);
        Tensor range = shifted.max(0L).values;
        return where(range.gt(0), shifted.div(range.clamp_min(1e-300)), zeros_like(shifted)).DetachFromDisposeScope();
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        Means.Dispose();
        NormalizedLayout.Dispose();
    }
}
