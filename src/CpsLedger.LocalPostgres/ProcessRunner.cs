using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace CpsLedger.LocalPostgres;

internal sealed record ProcessResult(string CommandLine, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public string Output => (StandardOutput + "\n" + StandardError).Trim();

    public string Describe()
    {
        var text = new StringBuilder($"`{CommandLine}` exited with code {ExitCode}.");
        if (!string.IsNullOrWhiteSpace(StandardOutput))
        {
            text.Append("\nstdout:\n").Append(StandardOutput.TrimEnd());
        }

        if (!string.IsNullOrWhiteSpace(StandardError))
        {
            text.Append("\nstderr:\n").Append(StandardError.TrimEnd());
        }

        return text.ToString();
    }
}

internal static class ProcessRunner
{
    // A child that hands its stdout/stderr pipes to a long-lived grandchild would keep them open forever;
    // pg_ctl redirects the postmaster to the log file, but do not hang if some wrapper does not.
    private static readonly TimeSpan OutputDrainTimeout = TimeSpan.FromSeconds(5);

    public static async Task<ProcessResult> RunAsync(
        string fileName, IReadOnlyList<string> arguments, CancellationToken ct, IReadOnlyDictionary<string, string>? environment = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // The caller's working directory may be unreachable for the postgres user (e.g. under /root).
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            startInfo.Environment[name] = value;
        }

        var commandLine = FormatCommandLine(fileName, arguments);
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"Could not run `{commandLine}`: {ex.Message}", ex);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);

        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            TryKill(process);
            throw;
        }

        var output = Task.WhenAll(stdout, stderr);
        await Task.WhenAny(output, Task.Delay(OutputDrainTimeout, CancellationToken.None)).ConfigureAwait(false);
        return new ProcessResult(
            commandLine,
            process.ExitCode,
            stdout.IsCompletedSuccessfully ? stdout.Result : "",
            stderr.IsCompletedSuccessfully ? stderr.Result : "");
    }

    public static string FormatCommandLine(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { fileName }.Concat(arguments).Select(QuoteForDisplay));

    private static string QuoteForDisplay(string value) =>
        value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c))
            ? value
            : ShellQuote(value);

    public static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void TryKill(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
        catch (Win32Exception)
        {
            // Could not be killed; nothing more to do.
        }
    }
}
