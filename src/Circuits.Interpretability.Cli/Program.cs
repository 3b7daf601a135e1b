using System.Runtime.InteropServices;
using Circuits.Interpretability.Cli;

// Ctrl+C (SIGINT) and SIGTERM cancel the work cooperatively: the current unit finishes or is discarded, nothing is
// left half-written, "cancelled" is printed and the exit code is 130 (143 for SIGTERM). A second Ctrl+C ends the
// process at once.
using var cancel = new CancellationTokenSource();
int cancelledCode = ExitCodes.Cancelled;
void OnSignal(PosixSignalContext context)
{
    if (cancel.IsCancellationRequested)
    {
        return;
    }

    context.Cancel = true;
    cancelledCode = context.Signal == PosixSignal.SIGTERM ? ExitCodes.Terminated : ExitCodes.Cancelled;
    Console.Error.WriteLine("cancelling: stopping at the next safe point (press Ctrl+C again to stop at once)");
    cancel.Cancel();
}

using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
using PosixSignalRegistration? terminate = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
int code = await CircuitsCli.RunAsync(args, Console.Out, Console.Error, cancel.Token);
return code == ExitCodes.Cancelled ? cancelledCode : code;
