using Circuits.Interpretability.Core;
using System.Globalization;
using static TorchSharp.torch;

namespace Circuits.Interpretability.Imaging;

/// <summary>
/// A small line-plot rasterizer that needs no fonts or plotting library: white background, left and bottom
/// axes with ticks and numeric labels (a built-in 3 x 5 pixel font), the data as an antialiased line with
/// points, and the peak marked. Used for tuning curves; works for any x-y series.
/// </summary>
public static class LinePlot
{
    private const int Left = 56, Right = 16, Top = 28, Bottom = 36, FontScale = 2;

    /// <summary>Draws <paramref name="y"/> over <paramref name="x"/> as a 3 x H x W RGB image in [0, 1].</summary>
    /// <exception cref="CircuitsException">The series are empty, differ in length, contain non-finite values, or the image is too small.</exception>
    public static Tensor Render(IReadOnlyList<double> x, IReadOnlyList<double> y, LinePlotOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        TorchBackend.EnsureAvailable();
        options ??= new LinePlotOptions();
        if (x.Count == 0 || x.Count != y.Count)
        {
            throw new CircuitsException($"A plot needs x and y of one non-zero length; got {x.Count} x values and {y.Count} y values.");
        }

        if (x.Concat(y).Any(v => !double.IsFinite(v)))
        {
            throw new CircuitsException("A plot needs finite values; the series contain NaN or infinity.");
        }

        if (options.Width < Left + Right + 40 || options.Height < Top + Bottom + 40)
        {
            throw new CircuitsException($"A plot of {options.Width} x {options.Height} pixels is too small; expected at least {Left + Right + 40} x {Top + Bottom + 40}.");
        }

        var canvas = new Canvas(options.Width, options.Height);
        double xMin = options.XMin ?? x.Min(), xMax = options.XMax ?? x.Max();
        if (xMax <= xMin)
        {
            xMax = xMin + 1;
        }

        double yMin = y.Min(), yMax = y.Max();
        if (options.YFromZero && yMin > 0)
        {
            yMin = 0;
        }

        if (options.YFromZero && yMax < 0)
        {
            yMax = 0;
        }

        double yStep = NiceStep((yMax - yMin) / 5);
        if (yMax - yMin < 1e-12)
        {
            yStep = Math.Abs(yMax) > 0 ? NiceStep(Math.Abs(yMax) / 5) : 1;
            yMax = yMin + yStep;
        }

        yMin = Math.Floor((yMin / yStep) + 1e-9) * yStep;
        yMax = Math.Ceiling((yMax / yStep) - 1e-9) * yStep;
        double xStep = options.XTickStep is double s && s > 0 ? s : NiceStep((xMax - xMin) / 6);

        int plotLeft = Left, plotRight = options.Width - Right, plotTop = Top, plotBottom = options.Height - Bottom;
        double Px(double v) => plotLeft + ((v - xMin) / (xMax - xMin) * (plotRight - plotLeft));
        double Py(double v) => plotBottom - ((v - yMin) / (yMax - yMin) * (plotBottom - plotTop));
        var black = new Rgb(0, 0, 0);
        var grid = new Rgb(0.9f, 0.9f, 0.9f);
        var red = new Rgb(0.85f, 0.1f, 0.1f);

        // Grid lines and ticks.
        for (double t = Math.Ceiling((xMin / xStep) - 1e-9) * xStep; t <= xMax + (xStep * 1e-9); t += xStep)
        {
            double px = Px(t);
            canvas.Segment(px, plotTop, px, plotBottom, 1, grid);
            canvas.Segment(px, plotBottom, px, plotBottom + 5, 1, black);
            string label = Format(t, xStep);
            canvas.Text(label, (int)Math.Round(px) - (PixelFont.Measure(label, FontScale) / 2), plotBottom + 9, FontScale, black);
        }

        for (double t = yMin; t <= yMax + (yStep * 1e-9); t += yStep)
        {
            double py = Py(t);
            canvas.Segment(plotLeft, py, plotRight, py, 1, grid);
            canvas.Segment(plotLeft - 5, py, plotLeft, py, 1, black);
            string label = Format(t, yStep);
            canvas.Text(label, plotLeft - 9 - PixelFont.Measure(label, FontScale), (int)Math.Round(py) - PixelFont.GlyphHeight, FontScale, black);
        }

        // Axes.
        canvas.Segment(plotLeft, plotTop, plotLeft, plotBottom, 1.5, black);
        canvas.Segment(plotLeft, plotBottom, plotRight, plotBottom, 1.5, black);

        // Data.
        for (int i = 1; i < x.Count; i++)
        {
            canvas.Segment(Px(x[i - 1]), Py(y[i - 1]), Px(x[i]), Py(y[i]), 2, options.LineColor);
        }

        for (int i = 0; i < x.Count; i++)
        {
            canvas.Disc(Px(x[i]), Py(y[i]), 2.2, options.LineColor);
        }

        if (options.MarkPeak)
        {
            int peak = Enumerable.Range(0, y.Count).Aggregate((best, i) => y[i] > y[best] ? i : best);
            double px = Px(x[peak]), py = Py(y[peak]);
            for (double d = py + 8; d < plotBottom; d += 8)
            {
                canvas.Segment(px, d, px, Math.Min(d + 4, plotBottom), 1.5, red);
            }

            canvas.Ring(px, py, 6, 1.5, red);
            string label = x[peak].ToString("0.###", CultureInfo.InvariantCulture);
            int width = PixelFont.Measure(label, FontScale);
            int left = Math.Clamp((int)Math.Round(px) - (width / 2), 0, options.Width - width);
            canvas.Text(label, left, Math.Max(2, (int)Math.Round(py) - 22), FontScale, red);
        }

        return canvas.ToTensor();
    }

    /// <summary>The smallest of 1, 2, 2.5, 5 times a power of ten that is at least <paramref name="raw"/>.</summary>
    internal static double NiceStep(double raw)
    {
        if (!(raw > 0))
        {
            return 1;
        }

        double power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        foreach (double m in new[] { 1, 2, 2.5, 5, 10 })
        {
            if (m * power >= raw * (1 - 1e-9))
            {
                return m * power;
            }
        }

        return 10 * power;
    }

    private static string Format(double value, double step)
    {
        int decimals = Math.Clamp((int)Math.Ceiling(-Math.Log10(step) - 1e-9), 0, 6);
        if (Math.Abs((step * Math.Pow(10, decimals)) - Math.Round(step * Math.Pow(10, decimals))) > 1e-6)
        {
            decimals++;
        }

        string text = value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return text.StartsWith('-') && text.Trim('-', '0', '.').Length == 0 ? text[1..] : text;
    }

    /// <summary>An RGB float canvas with antialiased drawing.</summary>
    private sealed class Canvas
    {
        private readonly int _w, _h;
        private readonly float[] _pixels;

        public Canvas(int w, int h)
        {
            _w = w;
            _h = h;
            _pixels = Enumerable.Repeat(1f, 3 * w * h).ToArray();
        }

        public void Blend(int x, int y, Rgb colour, double alpha)
        {
            if (x < 0 || y < 0 || x >= _w || y >= _h || alpha <= 0)
            {
                return;
            }

            alpha = Math.Min(1, alpha);
            for (int c = 0; c < 3; c++)
            {
                int i = (c * _w * _h) + (y * _w) + x;
                _pixels[i] = (float)((_pixels[i] * (1 - alpha)) + (colour[c] * alpha));
            }
        }

        public void Segment(double x0, double y0, double x1, double y1, double width, Rgb colour)
        {
            double half = width / 2;
            int minX = (int)Math.Floor(Math.Min(x0, x1) - half - 1), maxX = (int)Math.Ceiling(Math.Max(x0, x1) + half + 1);
            int minY = (int)Math.Floor(Math.Min(y0, y1) - half - 1), maxY = (int)Math.Ceiling(Math.Max(y0, y1) + half + 1);
            double dx = x1 - x0, dy = y1 - y0, length2 = (dx * dx) + (dy * dy);
            for (int py = minY; py <= maxY; py++)
            {
                for (int px = minX; px <= maxX; px++)
                {
                    double t = length2 == 0 ? 0 : Math.Clamp((((px - x0) * dx) + ((py - y0) * dy)) / length2, 0, 1);
                    double ex = px - (x0 + (t * dx)), ey = py - (y0 + (t * dy));
                    Blend(px, py, colour, half - Math.Sqrt((ex * ex) + (ey * ey)) + 0.5);
                }
            }
        }

        public void Disc(double cx, double cy, double radius, Rgb colour)
        {
            for (int py = (int)Math.Floor(cy - radius - 1); py <= (int)Math.Ceiling(cy + radius + 1); py++)
            {
                for (int px = (int)Math.Floor(cx - radius - 1); px <= (int)Math.Ceiling(cx + radius + 1); px++)
                {
                    double d = Math.Sqrt(((px - cx) * (px - cx)) + ((py - cy) * (py - cy)));
                    Blend(px, py, colour, radius - d + 0.5);
                }
            }
        }

        public void Ring(double cx, double cy, double radius, double width, Rgb colour)
        {
            double outer = radius + width;
            for (int py = (int)Math.Floor(cy - outer - 1); py <= (int)Math.Ceiling(cy + outer + 1); py++)
            {
                for (int px = (int)Math.Floor(cx - outer - 1); px <= (int)Math.Ceiling(cx + outer + 1); px++)
                {
                    double d = Math.Sqrt(((px - cx) * (px - cx)) + ((py - cy) * (py - cy)));
                    Blend(px, py, colour, (width / 2) - Math.Abs(d - radius) + 0.5);
                }
            }
        }

        public void Text(string text, int x, int y, int scale, Rgb colour) =>
            PixelFont.Draw(text, x, y, scale, (px, py) => Blend(px, py, colour, 1));

        public Tensor ToTensor() => tensor(_pixels).reshape(3, _h, _w);
    }
}
