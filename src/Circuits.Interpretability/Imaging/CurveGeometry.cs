namespace Circuits.Interpretability.Imaging;

/// <summary>
/// The geometry shared by the hand-built curve circuit and the synthetic curve stimuli, so that both mean
/// the same thing by "a curve of orientation φ at point P".
/// </summary>
/// <remarks>
/// Coordinates are pixel coordinates: x to the right, y down, pixel (row r, column c) centred at (c, r).
/// Angles are in degrees, counter-clockwise as displayed, 0 pointing right. The orientation of a curve is
/// the direction its convex side points (from the circle's centre through the arc's apex). A curve is
/// placed by its reference point: the midpoint between its apex and the middle of its chord (for a
/// straight segment, its middle), so the arc is centred on the point.
/// </remarks>
internal readonly struct CurveGeometry
{
    private readonly double _cx;
    private readonly double _cy;
    private readonly double _radius;
    private readonly double _half;
    private readonly double _orientation;
    private readonly double _length;
    private readonly double _px;
    private readonly double _py;

    /// <summary>A curve through reference point (<paramref name="x"/>, <paramref name="y"/>).</summary>
    /// <param name="x">Reference point, column.</param>
    /// <param name="y">Reference point, row.</param>
    /// <param name="orientationDegrees">Direction the convex side points.</param>
    /// <param name="curvature">1 / radius in 1/pixels; 0 is a straight segment.</param>
    /// <param name="arcLength">Length along the curve in pixels.</param>
    public CurveGeometry(double x, double y, double orientationDegrees, double curvature, double arcLength)
    {
        _px = x;
        _py = y;
        _orientation = Radians(orientationDegrees);
        _length = arcLength;
        Curvature = curvature;
        if (Math.Abs(curvature) < 1e-9)
        {
            _radius = double.PositiveInfinity;
            _half = 0;
            _cx = _cy = double.NaN;
            return;
        }

        _radius = 1 / curvature;
        _half = Math.Min(Math.PI, arcLength * curvature / 2);
        double back = _radius * (1 + Math.Cos(_half)) / 2;
        (double ux, double uy) = Unit(_orientation);
        _cx = x - (back * ux);
        _cy = y - (back * uy);
    }

    /// <summary>1 / radius; 0 for a straight segment.</summary>
    public double Curvature { get; }

    /// <summary>The unit vector of a direction (radians, counter-clockwise as displayed) in pixel coordinates (y down).</summary>
    public static (double X, double Y) Unit(double radians) => (Math.Cos(radians), -Math.Sin(radians));

    /// <summary>Degrees to radians.</summary>
    public static double Radians(double degrees) => degrees * Math.PI / 180;

    /// <summary>The smallest signed difference a - b of two angles in radians, in (-π, π].</summary>
    public static double AngleDifference(double a, double b)
    {
        double d = Math.IEEERemainder(a - b, 2 * Math.PI);
        return d <= -Math.PI ? d + (2 * Math.PI) : d;
    }

    /// <summary>The distance from (<paramref name="x"/>, <paramref name="y"/>) to the curve (a centre line of zero width).</summary>
    public double Distance(double x, double y)
    {
        if (double.IsInfinity(_radius))
        {
            (double tx, double ty) = Unit(_orientation + (Math.PI / 2));
            double along = ((x - _px) * tx) + ((y - _py) * ty);
            double clamped = Math.Clamp(along, -_length / 2, _length / 2);
            double qx = _px + (clamped * tx), qy = _py + (clamped * ty);
            return Math.Sqrt(((x - qx) * (x - qx)) + ((y - qy) * (y - qy)));
        }

        double vx = x - _cx, vy = y - _cy;
        double r = Math.Sqrt((vx * vx) + (vy * vy));
        double angle = Math.Atan2(-vy, vx);
        if (Math.Abs(AngleDifference(angle, _orientation)) <= _half)
        {
            return Math.Abs(r - _radius);
        }

        double best = double.PositiveInfinity;
        foreach (double end in new[] { _orientation - _half, _orientation + _half })
        {
            (double ex, double ey) = Unit(end);
            double dx = x - (_cx + (_radius * ex)), dy = y - (_cy + (_radius * ey));
            best = Math.Min(best, Math.Sqrt((dx * dx) + (dy * dy)));
        }

        return best;
    }

    /// <summary>
    /// Points along the curve, <paramref name="spacing"/> pixels apart, each with the orientation of the
    /// tangent there (radians, in [0, π)) and the arc length it stands for.
    /// </summary>
    public IEnumerable<(double X, double Y, double Tangent, double Weight)> Samples(double spacing)
    {
        int count = Math.Max(2, (int)Math.Ceiling(_length / spacing) + 1);
        double step = _length / (count - 1);
        for (int i = 0; i < count; i++)
        {
            double s = (i * step) - (_length / 2);        // signed arc length from the apex
            double weight = i == 0 || i == count - 1 ? step / 2 : step;
            if (double.IsInfinity(_radius))
            {
                double along = _orientation + (Math.PI / 2);
                (double tx, double ty) = Unit(along);
                yield return (_px + (s * tx), _py + (s * ty), Mod(along, Math.PI), weight);
            }
            else
            {
                double angle = _orientation + (s / _radius);
                (double ux, double uy) = Unit(angle);
                yield return (_cx + (_radius * ux), _cy + (_radius * uy), Mod(angle + (Math.PI / 2), Math.PI), weight);
            }
        }
    }

    /// <summary>The non-negative remainder of <paramref name="a"/> modulo <paramref name="m"/>.</summary>
    public static double Mod(double a, double m)
    {
        double r = a % m;
        return r < 0 ? r + m : r;
    }
}
