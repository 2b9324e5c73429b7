using System.Security.Cryptography;
using Microsoft.Net.Http.Headers;

namespace CpsLedger.Api.Platform;

/// <summary>
/// Cache-Control and ETag on every answer under <c>/api</c> (docs/api-behaviour.md, "Caching"). Ledger answers are private,
/// per-account data behind a bearer token: no shared cache may store one. A successful GET's JSON is <c>private, no-cache</c> (a
/// browser may keep it but asks every time, with <c>If-None-Match</c>); a document (PDF, UBL, CSV) and every error and command
/// answer is <c>no-store</c>. A GET's 200 carries a strong ETag hashed from the answer as written (its media type, file name and
/// bytes), so it changes whenever the body would: the summary, for one, depends on several streams and on today's date, which no
/// stream version says. A matching <c>If-None-Match</c> gets a 304 without a body, with the same ETag and Cache-Control. The
/// endpoint still runs: a 304 saves the transfer, not the reading.
/// </summary>
public sealed class CacheValidationMiddleware(RequestDelegate next)
{
    public const string Revalidate = "private, no-cache";
    public const string NoStore = "no-store";

    /// <summary>
    /// The most a GET's answer is held back for its ETag. Every GET answer is rendered whole in memory today (JSON pages, an
    /// invoice's PDF of some tens of kilobytes); one larger than this is sent as it is written, without an ETag, rather than held
    /// (to <c>If-None-Match: *</c>, a 304 without an ETag).
    /// </summary>
    public const int MaxHeldBytes = 4 * 1024 * 1024;

    public async Task InvokeAsync(HttpContext context)
    {
        if (!context.Request.Path.StartsWithSegments("/api"))
        {
            await next(context);
            return;
        }

        var response = context.Response;
        var get = HttpMethods.IsGet(context.Request.Method);
        string? decided = null;
        // Registered first, so it runs last when the answer starts: after the exception handler's own "no-cache,no-store".
        response.OnStarting(() =>
        {
            response.Headers.CacheControl = decided ?? Policy(get, response.StatusCode, response.ContentType);
            return Task.CompletedTask;
        });
        if (!get)
        {
            await next(context);
            return;
        }

        var body = response.Body;
        // "*" matches any current answer (RFC 9110, 13.1.2): a 200 too large to be held for its ETag is one too, and is known to be
        // one when it passes the limit (its status is set by then), so its 304 needs neither its ETag nor the rest of its bytes.
        var anyCurrent = Matches(context.Request, tag: null);
        await using var held = new HeldBody(body, MaxHeldBytes, () =>
        {
            if (!anyCurrent || response.StatusCode != StatusCodes.Status200OK)
                return false;
            NotModified();
            return true;
        });
        response.Body = held;
        try
        {
            await next(context);
        }
        finally
        {
            response.Body = body;
        }

        if (held.Passed)
            return;
        var bytes = held.Bytes;
        if (response.StatusCode != StatusCodes.Status200OK)
        {
            await body.WriteAsync(bytes, context.RequestAborted);
            return;
        }

        var tag = new EntityTagHeaderValue(ETagOf(response, bytes.Span));
        response.Headers.ETag = tag.ToString();
        if (Matches(context.Request, tag))
        {
            NotModified();
            return;
        }

        response.ContentLength = bytes.Length;
        await body.WriteAsync(bytes, context.RequestAborted);

        // The 200's Cache-Control and its ETag if it has one (a large answer has none), without its body.
        void NotModified()
        {
            decided = Policy(get: true, StatusCodes.Status200OK, response.ContentType);
            response.StatusCode = StatusCodes.Status304NotModified;
            // A 304 carries what a cache updates its copy with (RFC 9110, 15.4.5), not the representation's own metadata.
            response.Headers.Remove(HeaderNames.ContentType);
            response.Headers.Remove(HeaderNames.ContentLength);
            response.Headers.Remove(HeaderNames.ContentDisposition);
        }
    }

    /// <summary>What a cache may do with an answer (docs/api-behaviour.md says why).</summary>
    internal static string Policy(bool get, int status, string? contentType) =>
        get && status is >= 200 and < 300 && IsJson(contentType) ? Revalidate : NoStore;

    private static bool IsJson(string? contentType) =>
        contentType is not null && MediaTypeHeaderValue.TryParse(contentType, out var media)
                                && media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase);

    // Hashed from everything the 200 says about itself: the same bytes as another media type or file name are another answer.
    private static string ETagOf(HttpResponse response, ReadOnlySpan<byte> body)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes($"{response.ContentType}\n{response.Headers.ContentDisposition}\n"));
        sha.AppendData(body);
        // 128 bits, base64url: a short tag of characters an entity-tag takes.
        return $"\"{Base64Url(sha.GetHashAndReset().AsSpan(0, 16))}\"";
    }

    private static string Base64Url(ReadOnlySpan<byte> bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    // If-None-Match compares weakly (RFC 9110, 13.1.2); "*" matches any current answer, and alone does without a tag (null: an
    // answer too large to be held for one). An unreadable header matches nothing.
    private static bool Matches(HttpRequest request, EntityTagHeaderValue? tag) =>
        EntityTagHeaderValue.TryParseList(request.Headers.IfNoneMatch, out var given)
        && given.Any(g => g.Equals(EntityTagHeaderValue.Any) || (tag is not null && g.Compare(tag, useStrongComparison: false)));

    /// <summary>
    /// The answer as the endpoint writes it, held until it is complete (for its ETag) up to a limit; past the limit, what is held
    /// and everything after it goes straight through, unless <paramref name="notModified"/> (asked once, there) turned the answer
    /// into a 304: then the 304 is sent at once, as a passing answer's status would be, and the rest is dropped. Seekable while
    /// held, so that the exception handler can clear a half-written answer before it writes its problem.
    /// </summary>
    private sealed class HeldBody(Stream through, int limit, Func<bool> notModified) : Stream
    {
        private MemoryStream? _held = new();
        private bool _dropping;

        public bool Passed => _held is null;

        public ReadOnlyMemory<byte> Bytes => _held is { } held ? held.GetBuffer().AsMemory(0, (int)held.Length) : default;

        public override bool CanRead => false;
        public override bool CanSeek => _held is not null;
        public override bool CanWrite => true;
        public override long Length => _held?.Length ?? throw new NotSupportedException();

        public override long Position
        {
            get => _held?.Position ?? throw new NotSupportedException();
            set => (_held ?? throw new NotSupportedException()).Position = value;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            if (Hold(buffer.Length) is { } held)
            {
                held.Write(buffer);
                return;
            }

            if (!_dropping)
                through.Write(buffer);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_held is { } held && held.Length + buffer.Length <= limit)
            {
                held.Write(buffer.Span);
                return;
            }

            if (_held is { } spilled)
            {
                _held = null;
                _dropping = notModified();
                if (_dropping)
                {
                    spilled.Dispose();
                    // Its headers only: the 304 is on its way, as a passing answer's status would be.
                    await through.FlushAsync(cancellationToken);
                }
                else
                    await through.WriteAsync(spilled.GetBuffer().AsMemory(0, (int)spilled.Length), cancellationToken);
            }

            if (!_dropping)
                await through.WriteAsync(buffer, cancellationToken);
        }

        // Synchronous writes (rare: the server refuses them unless allowed) pass the limit the same way.
        private MemoryStream? Hold(int count)
        {
            if (_held is { } held && held.Length + count <= limit)
                return held;
            if (_held is { } spilled)
            {
                _held = null;
                _dropping = notModified();
                if (_dropping)
                {
                    spilled.Dispose();
                    through.Flush();
                }
                else
                    through.Write(spilled.GetBuffer(), 0, (int)spilled.Length);
            }

            return null;
        }

        // A flush while held is nothing to do: the answer is sent whole once the endpoint is done.
        public override void Flush()
        {
            if (_held is null && !_dropping)
                through.Flush();
        }

        public override Task FlushAsync(CancellationToken cancellationToken) =>
            _held is null && !_dropping ? through.FlushAsync(cancellationToken) : Task.CompletedTask;

        public override long Seek(long offset, SeekOrigin origin) => (_held ?? throw new NotSupportedException()).Seek(offset, origin);

        public override void SetLength(long value) => (_held ?? throw new NotSupportedException()).SetLength(value);

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
                _held?.Dispose();
            base.Dispose(disposing);
        }
    }
}
