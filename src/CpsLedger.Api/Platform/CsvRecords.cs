using nietras.SeparatedValues;

namespace CpsLedger.Api.Platform;

/// <summary>
/// A record of a CSV file: the line it starts on, its values (enclosing quotes removed, doubled quotes made single), and its
/// first quoting mistake. <see cref="FileProblem"/> is set when the rest of the file cannot be read as records.
/// </summary>
public sealed record CsvRecord(int Line, IReadOnlyList<string> Fields, string? Problem, string? FileProblem = null);

/// <summary>
/// RFC 4180 records (comma-separated, values containing a comma, quote or line break enclosed in double quotes) read by Sep, with
/// what both file formats add: lines starting with <c>#</c> are comments, blank lines (also lines of only commas) are skipped,
/// spaces around a quoted value are tolerated, every record knows the line it starts on, and a quoting mistake is reported with
/// the record instead of silently changing its values.
/// <para>
/// Sep treats every quote as opening or closing a quoted part. A stray quote in an unquoted value that is not matched on its line
/// therefore makes the following line breaks part of the value: the record says so as a <see cref="CsvRecord.FileProblem"/>, as
/// the rows after it can no longer be told apart.
/// </para>
/// </summary>
public static class CsvRecords
{
    public const string NeverClosed = "A quoted value starting on this line is never closed (a missing \").";

    /// <summary>
    /// The records of <paramref name="text"/>, streamed. With <paramref name="maxRowCharacters"/>, a longer record ends the reading
    /// with a <see cref="CsvRecord.FileProblem"/> (a quote never closed would otherwise make the rest of a large file one value).
    /// The reader's own exceptions (e.g. a <see cref="System.Text.DecoderFallbackException"/>) reach the caller;
    /// <see cref="Reading.Line"/> says how far the text had been read.
    /// </summary>
    public static Reading Read(TextReader text, int? maxRowCharacters = null) => new(text, maxRowCharacters);

    public sealed class Reading(TextReader text, int? maxRowCharacters) : IEnumerable<CsvRecord>
    {
        private readonly CommentsAndLimit _source = new(text, maxRowCharacters);

        /// <summary>Lines of the text read so far (Sep reads ahead of the record it returns).</summary>
        public int Line => _source.Line;

        public IEnumerator<CsvRecord> GetEnumerator()
        {
            using var reader = Sep.New(',').Reader(o => o with { HasHeader = false, DisableColCountCheck = true, Unescape = false })
                .From(_source);
            var line = 1;
            foreach (var row in reader)
            {
                // Sep numbers lines from 1 and counts a line break inside quotes; where this record starts is where the last one ended.
                var start = line;
                line = row.LineNumberToExcl;
                if (_source.CutRowLine == start)
                {
                    yield return new CsvRecord(start, [], null, $"The row is longer than {maxRowCharacters} characters " +
                                                               (_source.CutInsideQuotes ? "(is a closing quote missing?)." : "(is a line break missing?)."));
                    yield break;
                }

                var fields = new string[row.ColCount];
                string? problem = null;
                string? fileProblem = null;
                for (var i = 0; i < fields.Length; i++)
                {
                    var (value, mistake) = Unquote(row[i].Span, i + 1);
                    fields[i] = value;
                    if (mistake is null || problem is not null)
                        continue;
                    problem = mistake;
                    if (mistake == NeverClosed || (!IsQuoted(row[i].Span) && row[i].Span.IndexOfAny('\r', '\n') >= 0))
                        fileProblem = mistake;
                }

                if (fileProblem is not null)
                {
                    yield return new CsvRecord(start, fields, null, fileProblem);
                    yield break;
                }

                if (problem is null && fields.All(string.IsNullOrWhiteSpace))
                    continue;
                yield return new CsvRecord(start, fields, problem);
            }
        }

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }

    private static bool IsQuoted(ReadOnlySpan<char> raw) => raw.TrimStart().StartsWith('"');

    /// <summary>A value as written: quoted (spaces around it allowed) or not (a quote inside it is a mistake, kept as written).</summary>
    private static (string Value, string? Problem) Unquote(ReadOnlySpan<char> raw, int position)
    {
        if (!IsQuoted(raw))
        {
            return (raw.ToString(), raw.Contains('"')
                ? $"A quote inside value {position} that is not enclosed in quotes; enclose the value in double quotes and write the quote twice (\"\")."
                : null);
        }

        var quoted = raw.TrimStart()[1..];
        var value = new System.Text.StringBuilder(quoted.Length);
        for (var i = 0; i < quoted.Length; i++)
        {
            if (quoted[i] != '"')
            {
                value.Append(quoted[i]);
            }
            else if (i + 1 < quoted.Length && quoted[i + 1] == '"')
            {
                value.Append('"');
                i++;
            }
            else
            {
                return (value.ToString(), quoted[(i + 1)..].IsWhiteSpace()
                    ? null
                    : $"Unexpected text after the closing quote of value {position}; a quote inside a quoted value is written twice (\"\").");
            }
        }

        return (value.ToString(), NeverClosed);
    }

    /// <summary>
    /// The text Sep reads: comment lines emptied (their line breaks kept, so line numbers stay true) and, with a limit, cut off
    /// after a record that grows past it. Quotes are counted as Sep counts them (each one opens or closes), so a line start outside
    /// quotes here is a record start there.
    /// </summary>
    private sealed class CommentsAndLimit(TextReader inner, int? maxRowCharacters) : TextReader
    {
        private readonly char[] _source = new char[16 * 1024];
        private int _position;
        private int _length;
        private bool _inQuotes;
        private bool _atRecordStart = true;
        private bool _inComment;
        private bool _cut;
        private char _previous;
        private int _rowCharacters;
        private int _rowLine = 1;

        public int Line { get; private set; } = 1;

        /// <summary>The line of the record that grew past the limit (0: none did).</summary>
        public int CutRowLine { get; private set; }

        public bool CutInsideQuotes { get; private set; }

        public override int Read(char[] buffer, int index, int count) => Read(buffer.AsSpan(index, count));

        public override int Read(Span<char> buffer)
        {
            var written = 0;
            while (written < buffer.Length && !_cut)
            {
                if (_position == _length)
                {
                    if (written > 0)
                        break;
                    _length = inner.Read(_source, 0, _source.Length);
                    _position = 0;
                    if (_length == 0)
                        break;
                }

                var c = _source[_position++];
                var previous = _previous;
                _previous = c;
                if (c is '\r' or '\n')
                {
                    if (!(c == '\n' && previous == '\r'))
                        Line++;
                    _inComment = false;
                    if (!_inQuotes)
                    {
                        _atRecordStart = true;
                        _rowCharacters = 0;
                        _rowLine = Line;
                        buffer[written++] = c;
                        continue;
                    }
                }
                else if (_inComment)
                {
                    continue;
                }
                else if (_atRecordStart && c == '#')
                {
                    _inComment = true;
                    continue;
                }
                else
                {
                    _atRecordStart = false;
                    if (c == '"')
                        _inQuotes = !_inQuotes;
                }

                if (maxRowCharacters is { } max && ++_rowCharacters > max)
                {
                    _cut = true;
                    CutRowLine = _rowLine;
                    CutInsideQuotes = _inQuotes;
                    break;
                }

                buffer[written++] = c;
            }

            return written;
        }

        public override int Read()
        {
            Span<char> one = stackalloc char[1];
            return Read(one) == 0 ? -1 : one[0];
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
