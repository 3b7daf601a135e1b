using Circuits.Interpretability.Core;
using ScottPlot;

namespace Circuits.Interpretability.Imaging;

/// <summary>
/// A signed 2-D map (for example one connection's expanded weights) as a figure for files: the map drawn with
/// negative values in one colour, zero white and positive values in another, centred offsets on both axes, a
/// title, and a colour bar with its scale, so that the figure says which colour excites and which inhibits.
/// Drawn by ScottPlot; text needs a font on the machine.
/// </summary>
public static class SignedMapPlot
{
    /// <summary>Draws <paramref name="map"/> ([row, column]; row 0 at the top, as in an image) and encodes it as PNG.</summary>
    /// <exception cref="CircuitsException">The map is empty or holds non-finite values, or the size is too small.</exception>
    public static byte[] RenderPng(float[,] map, SignedMapPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(map);
        options ??= new SignedMapPlotOptions();
        int rows = map.GetLength(0), columns = map.GetLength(1);
        if (rows == 0 || columns == 0)
        {
            throw new CircuitsException($"A map of {rows} x {columns} cannot be drawn; expected at least one row and one column.");
        }

        if (options.Width < LinePlot.MinimumSize || options.Height < LinePlot.MinimumSize)
        {
            throw new CircuitsException($"A figure of {options.Width} x {options.Height} pixels is too small; expected at least {LinePlot.MinimumSize} x {LinePlot.MinimumSize}.");
        }

        var values = new double[rows, columns];
        double largest = 0;
        for (int r = 0; r < rows; r++)
        {
            for (int c = 0; c < columns; c++)
            {
                if (!float.IsFinite(map[r, c]))
                {
                    throw new CircuitsException($"The map holds a non-finite value at row {r}, column {c}; expected finite numbers.");
                }

                values[r, c] = map[r, c];
                largest = Math.Max(largest, Math.Abs(map[r, c]));
            }
        }

        double max = options.MaxAbs is double m && m > 0 ? m : largest > 0 ? largest : 1;
        var plot = new Plot();
        plot.Font.Set(LinePlot.FontFamily);
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new Diverging(options.Negative, options.Positive);
        heatmap.ManualRange = new ScottPlot.Range(-max, max);
        double halfX = columns / 2.0, halfY = rows / 2.0;
        double centreX = (columns - 1) / 2.0, centreY = (rows - 1) / 2.0;
        heatmap.Extent = new CoordinateRect(-centreX - 0.5, centreX + 0.5, -centreY - 0.5, centreY + 0.5);
        heatmap.FlipVertically = false;
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = options.ColorBarLabel;
        bar.LabelStyle.FontSize = 13;
        plot.Axes.SetLimits(-halfX, halfX, halfY, -halfY);
        plot.Axes.SquareUnits();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, Math.Ceiling(columns / 10.0)));
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericFixedInterval(Math.Max(1, Math.Ceiling(rows / 10.0)));
        plot.Axes.Bottom.TickLabelStyle.FontSize = 12;
        plot.Axes.Left.TickLabelStyle.FontSize = 12;
        if (options.Title.Length > 0)
        {
            plot.Title(options.Title, 15);
        }

        plot.XLabel(options.XLabel, 13);
        plot.YLabel(options.YLabel, 13);
        return plot.GetImageBytes(options.Width, options.Height, ImageFormat.Png);
    }

    /// <summary>Writes <see cref="RenderPng"/> to <paramref name="path"/> (atomically).</summary>
    /// <exception cref="CircuitsException">See <see cref="RenderPng"/>.</exception>
    public static void SavePng(string path, float[,] map, SignedMapPlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] png = RenderPng(map, options);
        AtomicFile.WriteAllBytes(Path.GetFullPath(path), png);
    }

    /// <summary>Negative colour at 0, white at 0.5, positive colour at 1.</summary>
    private sealed class Diverging : IColormap
    {
        private readonly Rgb _negative, _positive;

        public Diverging(Rgb negative, Rgb positive)
        {
            _negative = negative;
            _positive = positive;
        }

        public string Name => "negative-white-positive";

        public Color GetColor(double position)
        {
            double t = Math.Clamp(double.IsFinite(position) ? position : 0.5, 0, 1);
            return LinePlot.ToColor(t < 0.5 ? Rgb.Mix(_negative, Rgb.White, t * 2) : Rgb.Mix(Rgb.White, _positive, (t - 0.5) * 2));
        }
    }
}
