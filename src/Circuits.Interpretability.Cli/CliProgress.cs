using Spectre.Console;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// Progress of a long verb: a Spectre.Console progress bar when standard error is an interactive terminal,
/// otherwise one plain line on standard error each time the description changes (nothing with <c>--json</c>, so
/// that standard output stays machine-readable and standard error quiet).
/// </summary>
internal static class CliProgress
{
    /// <summary>
    /// Runs <paramref name="work"/>, which reports (value out of <paramref name="total"/>, description) through
    /// the callback it is given.
    /// </summary>
    public static T Run<T>(TextWriter error, bool json, string title, double total, Func<Action<double, string>, T> work)
    {
        bool interactive = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected && !json;
        if (!interactive)
        {
            TextWriter writer = json ? TextWriter.Null : error;
            string last = string.Empty;
            return work((_, description) =>
            {
                if (description != last)
                {
                    writer.WriteLine(description);
                    last = description;
                }
            });
        }

        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(context =>
            {
                ProgressTask task = context.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                result = work((value, description) =>
                {
                    task.Description = Markup.Escape(description);
                    task.Value = Math.Min(value, task.MaxValue);
                });
            });
        return result;
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
}
