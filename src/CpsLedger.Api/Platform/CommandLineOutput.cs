using System.Text;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Standard output for JasperFx's own commands (<c>db-*</c>, <c>codegen</c>, <c>describe</c>, ...) less the empty line JasperFx
/// (2.100.1) writes ahead of each one's output: its search for commands ends with <c>AnsiConsole.WriteLine()</c> whether or not
/// it wrote the lines that blank line closes ("Searching '...' for commands", which Program keeps out), before any command runs.
/// Piped into a file, a command's output began with an empty line. Only a line break written before anything else is left out.
/// </summary>
internal sealed class WithoutLeadingBlankLine(TextWriter output) : TextWriter
{
    private bool _written;

    public override Encoding Encoding => output.Encoding;

    public override IFormatProvider FormatProvider => output.FormatProvider;

    public override void Write(char value)
    {
        if (!LeftOut([value]))
            output.Write(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        if (!LeftOut(buffer.AsSpan(index, count)))
            output.Write(buffer, index, count);
    }

    public override void Write(string? value)
    {
        if (!LeftOut(value))
            output.Write(value);
    }

    public override void WriteLine()
    {
        if (!LeftOut(CoreNewLine))
            output.WriteLine();
    }

    public override void WriteLine(string? value)
    {
        _written = true;
        output.WriteLine(value);
    }

    public override void Flush() => output.Flush();

    // Whether this is the line break to leave out: the first text written, and a line break alone.
    private bool LeftOut(ReadOnlySpan<char> text)
    {
        if (_written || text.IsEmpty)
            return false;
        _written = true;
        return text is "\n" or "\r\n";
    }
}

/// <summary>
/// Standard output for every command less the notices JasperFx (2.100.1) writes there with <c>Console.WriteLine</c> when it
/// applies its input's flags to a host builder (as for the host <c>projections run</c> hands its daemon): "Verbose flag is on."
/// for <c>--verbose</c> and "Overwriting the environment to `...`" for <c>--environment</c>. They go to standard error, with the
/// logs: on stdout they came ahead of what a command writes there for a file or a pipe. Only those lines, written whole.
/// </summary>
internal sealed class JasperFxNoticesToError(TextWriter output, TextWriter error) : TextWriter
{
    public override Encoding Encoding => output.Encoding;

    public override IFormatProvider FormatProvider => output.FormatProvider;

    public override void Write(char value) => output.Write(value);

    public override void Write(char[] buffer, int index, int count) => output.Write(buffer, index, count);

    public override void Write(string? value) => output.Write(value);

    public override void WriteLine() => output.WriteLine();

    public override void WriteLine(string? value)
    {
        if (value is "Verbose flag is on." || value?.StartsWith("Overwriting the environment to `", StringComparison.Ordinal) == true)
            error.WriteLine(value);
        else
            output.WriteLine(value);
    }

    public override void Flush() => output.Flush();
}
