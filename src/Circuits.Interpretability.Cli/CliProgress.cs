using System.Diagnostics;
using System.Globalization;
using Spectre.Console;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// Progress of a long verb on standard error (standard output stays for results). On an interactive terminal: a
/// Spectre.Console progress bar with the time left. Otherwise (a log, a pipe, a batch job): after the first two
/// seconds, one line when a phase starts and one every few seconds (<see cref="IntervalVariable"/>, default 5) with the phase, the step, the units
/// done and an estimate of the time left, for example
/// <c>render: curves batch 1/2 | step 120/512 | 0/16 units done | 0:12 elapsed, about 0:38 left</c>.
/// </summary>
internal sealed class CliProgress : IDisposable
{
    /// <summary>Environment variable: seconds between progress lines off a terminal (default 5).</summary>
    public const string IntervalVariable = "CIRCUITS_PROGRESS_SECONDS";

    /// <summary>Off a terminal, nothing is printed for work this short (a quick verb leaves standard error empty).</summary>
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(2);

    private readonly object _gate = new();
    private readonly TextWriter _writer;
    private readonly string _title;
    private readonly double _total;
    private readonly int _units;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly Timer? _timer;
    private readonly Action<double, string>? _bar;
    private string _phase = "starting";
    private string? _step;
    private double _value;
    private int _unitsDone;
    private bool _stopped;

    private CliProgress(TextWriter writer, string title, double total, int units, Action<double, string>? bar, TimeSpan? interval = null)
    {
        _writer = writer;
        _title = title;
        _total = Math.Max(1, total);
        _units = units;
        _bar = bar;
        if (bar is null)
        {
            TimeSpan every = interval ?? Interval();
            _timer = new Timer(_ => WriteLine(), null, every, every);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/>, which reports through the <see cref="CliProgress"/> it is given: a value out of
    /// <paramref name="total"/>, the phase, and how many of <paramref name="units"/> units are done.
    /// </summary>
    /// <param name="error">Standard error, or a writer that gets the plain lines.</param>
    /// <param name="title">The verb, first on every line.</param>
    /// <param name="total">What the progress value counts up to.</param>
    /// <param name="units">How many units the verb works on (0: do not show units).</param>
    /// <param name="work">The work; it reports through the <see cref="CliProgress"/> it gets.</param>
    /// <param name="interval">Seconds between plain lines; null: <see cref="IntervalVariable"/> or 5.</param>
    public static T Run<T>(TextWriter error, string title, double total, int units, Func<CliProgress, T> work, TimeSpan? interval = null)
    {
        bool interactive = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
        if (!interactive)
        {
            using var plain = new CliProgress(error, title, total, units, bar: null, interval);
            return work(plain);
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                using var live = new CliProgress(TextWriter.Null, title, total, units, (value, description) =>
                {
                    task.Description = Markup.Escape(description);
                    task.Value = Math.Min(value, task.MaxValue);
                });
                result = work(live);
            });
        return result;
    }

    /// <summary>Reports progress: <paramref name="value"/> of the total, the phase, the step within it (e.g. "step 12/512"), units done.</summary>
    public void Update(double value, string phase, string? step = null, int? unitsDone = null)
    {
        bool newPhase;
        lock (_gate)
        {
            newPhase = phase != _phase;
            _value = Math.Clamp(value, 0, _total);
            _phase = phase;
            _step = step;
            _unitsDone = unitsDone ?? _unitsDone;
        }

        if (_bar is not null)
        {
            _bar(value, Describe(withTime: false));
        }
        else if (newPhase && _clock.Elapsed >= Quiet)
        {
            WriteLine();
        }
    }

    /// <summary>The current line, for example <c>report: rendering 4 units | step 12/192 | 0/4 units done | 0:03 elapsed, about 0:40 left</c>.</summary>
    public string Describe(bool withTime = true)
    {
        lock (_gate)
        {
            var parts = new List<string> { $"{_title}: {_phase}" };
            if (_step is not null)
            {
                parts.Add(_step);
            }

            if (_units > 0)
            {
                parts.Add($"{_unitsDone}/{_units} units done");
            }

            if (withTime)
            {
                TimeSpan elapsed = _clock.Elapsed;
                string time = $"{Clock(elapsed)} elapsed";
                if (_value > 0 && elapsed > TimeSpan.FromSeconds(1))
                {
                    time += $", about {Clock(elapsed * ((_total - _value) / _value))} left";
                }

                parts.Add(time);
            }

            return string.Join(" | ", parts);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            _stopped = true;
        }

        _timer?.Dispose();
    }

    /// <summary>An <see cref="IProgress{T}"/> that forwards synchronously (no captured context, unlike <see cref="Progress{T}"/>).</summary>
    public sealed class Forward<T> : IProgress<T>
    {
        private readonly Action<T> _report;

        /// <summary>Forwards every report to <paramref name="report"/>.</summary>
        public Forward(Action<T> report) => _report = report;

        /// <inheritdoc />
        public void Report(T value) => _report(value);
    }

    private void WriteLine()
    {
        string line = Describe();
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }

            _writer.WriteLine(line);
            _writer.Flush();
        }
    }

    private static TimeSpan Interval()
    {
        string? text = Environment.GetEnvironmentVariable(IntervalVariable);
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && seconds >= 0.05 && seconds <= 3600
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromSeconds(5);
    }

    private static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes}:{t.Seconds:00}";
}
