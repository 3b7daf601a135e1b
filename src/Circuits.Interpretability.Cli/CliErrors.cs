using System.Runtime.InteropServices;
using System.Text.Json;
using Circuits.Interpretability.Core;

namespace Circuits.Interpretability.Cli;

/// <summary>
/// The command line asks for something that cannot be: a value out of range, a name the model or the tool does not
/// have, options that do not go together. Exit code <see cref="ExitCodes.Usage"/>.
/// </summary>
internal sealed class UsageException : CircuitsException
{
    public UsageException(string message) : base(message)
    {
    }
}

/// <summary>How an error leaves the tool: its exit code, a message in the user's terms, text or JSON.</summary>
internal static class CliErrors
{
    /// <summary>
    /// The exit code for <paramref name="error"/>: <see cref="ExitCodes.Usage"/> when the command line names
    /// something that does not exist or is not valid (a layer, a channel, a unit address, a value),
    /// <see cref="ExitCodes.Cancelled"/> for a cancellation, otherwise <see cref="ExitCodes.Failure"/>.
    /// </summary>
    public static int ExitCode(Exception error) => error switch
    {
        OperationCanceledException => ExitCodes.Cancelled,
        UsageException or UnknownLayerException or UnitOutOfRangeException or InvalidAddressException or ArgumentException => ExitCodes.Usage,
        _ => ExitCodes.Failure,
    };

    /// <summary>
    /// The message of <paramref name="error"/> without .NET's additions: no " (Parameter 'x')" suffix, only the first
    /// line of a libtorch error (not its C++ stack), and plain words for running out of memory.
    /// </summary>
    public static string Message(Exception error)
    {
        string message = error.Message;
        if (error is ArgumentException { ParamName: { } name })
        {
            string suffix = $" (Parameter '{name}')";
            int at = message.LastIndexOf(suffix, StringComparison.Ordinal);
            if (at >= 0)
            {
                message = message.Remove(at, suffix.Length);
            }
        }

        if (error is ExternalException)
        {
            message = "libtorch: " + message.Split('\n', 2)[0].Trim();
        }

        if (error is OutOfMemoryException)
        {
            message = "the machine ran out of memory; use a smaller --size, --batch or --input-size.";
        }

        return message.Trim();
    }

    /// <summary>Writes an error: one JSON object on standard output with <c>--json</c>, otherwise "error: ..." lines on standard error.</summary>
    public static void Write(TextWriter output, TextWriter error, bool json, int exitCode, IReadOnlyList<string> messages)
    {
        if (json)
        {
            string kind = exitCode switch
            {
                ExitCodes.Usage => "usage",
                ExitCodes.Cancelled => "cancelled",
                _ => "failure",
            };
            output.WriteLine(JsonSerializer.Serialize(new { error = new { kind, exitCode, message = string.Join(" ", messages), messages } }, CircuitsCli.JsonOptions));
            if (exitCode == ExitCodes.Cancelled)
            {
                error.WriteLine("cancelled");
            }

            return;
        }

        foreach (string message in messages)
        {
            error.WriteLine(exitCode == ExitCodes.Cancelled ? message : $"error: {message}");
        }

        if (exitCode == ExitCodes.Usage)
        {
            error.WriteLine("Run 'circuits --help' or 'circuits <verb> --help' for usage.");
        }
    }
}
