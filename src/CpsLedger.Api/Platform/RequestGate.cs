using System.Collections.Frozen;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Mvc.ApiExplorer;
using Microsoft.AspNetCore.Mvc.Controllers;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.Extensions.Options;
using Wolverine.Http;

namespace CpsLedger.Api.Platform;

/// <summary>
/// One gate in front of every endpoint: what an endpoint receives is what the OpenAPI document says it accepts, or the
/// request is answered 400 with an error per field (<c>errors</c> keyed by the parameter's name or the body's JSON path in the
/// request's own casing) before anything reaches the database. It reads the same description of each endpoint that the document
/// is built from (Wolverine's API description of its chain), so the two cannot disagree:
/// <list type="bullet">
/// <item>route and query values must parse as their type (a UUID, a whole number, true/false, a date), a UUID must not be nil,
/// text must be one line without control characters, a query parameter the operation does not have or a single value given twice
/// is refused, and validation attributes on query parameters (<c>[Range]</c>, <c>[StringLength]</c>) are enforced;</item>
/// <item>a JSON body must be a JSON object (an optional body, a nullable <c>[FromBody]</c>, may be left out or null), without
/// null items in lists, and must deserialize under the strict options of <see cref="LedgerJson"/> (required members, no null
/// where the type says otherwise, member names spelled exactly, no unknown or repeated members, enums by name, text without
/// control characters, no nil UUID). Each refusal of the deserializer is explained by the field it concerns and the shape
/// expected there; no .NET type name is ever shown.</item>
/// </list>
/// A body that passes is left for Wolverine to read again (it is buffered): field rules beyond the shape are the validators'.
/// A request refused here is refused once, with every field problem it has: every shape problem of the body (see
/// <see cref="ReviewAsync"/>), and the body validator's errors for the fields that are well-formed (RequestGate.Review.cs).
/// </summary>
public sealed partial class RequestGate(
    RequestDelegate next,
    IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json,
    EndpointDataSource endpoints,
    IApiDescriptionGroupCollectionProvider descriptions)
{
    public const string BodyKey = "$";

    public const string NotUtf8 = "The request body is not UTF-8: JSON is sent as UTF-8.";

    public const string QueryNotUtf8 = "Not UTF-8: a query value is percent-encoded from its UTF-8 bytes (ü is %C3%BC).";

    public const string PathNotUtf8 = "Not UTF-8: a value in the path is percent-encoded from its UTF-8 bytes (ü is %C3%BC).";

    /// <summary>What a 415 for a body says: the gate's, and routing's (an endpoint's accepted types, before the gate runs).</summary>
    public const string JsonOnly = "The request body must be JSON, sent with Content-Type: application/json.";

    /// <summary>How deep a JSON body may nest (System.Text.Json's default, which Wolverine reads the body with too).</summary>
    public const int MaxDepth = 64;

    public static readonly string TooDeep =
        $"The request body nests arrays and objects deeper than {MaxDepth} levels, the most the ledger reads (its bodies need a few).";

    private readonly Lazy<FrozenDictionary<HttpChain, Shape>> _shapes = new(() => Describe(endpoints, descriptions));
    private readonly JsonSerializerOptions _options = json.Value.SerializerOptions;

    public async Task InvokeAsync(HttpContext context)
    {
        // Every request waits for the descriptions, the OpenAPI document's too (see Describe).
        var shapes = _shapes.Value;
        var chain = context.GetEndpoint()?.Metadata.GetMetadata<HttpChain>();
        if (chain is null)
        {
            await next(context);
            return;
        }

        if (!shapes.TryGetValue(chain, out var shape))
            throw new InvalidOperationException($"Endpoint {chain.RoutePattern?.RawText} was not in the endpoints described at the first request.");
        // A body in a content coding (gzip, br, ...) is not decoded here: read as it came it was a 400 "not valid JSON", or a plain
        // body labelled gzip was taken as it was. RFC 9110 12.5.3: a 415 that says, in Accept-Encoding, what is read.
        if (!BodyAbsent(context) && ContentCoding(context.Request) is { } coding)
        {
            context.Response.Headers.AcceptEncoding = "identity";
            await Problems.Write(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported content coding",
                $"The request body was sent with Content-Encoding: {coding}. Bodies are read uncompressed only: send it without Content-Encoding.");
            return;
        }

        var errors = new Errors();
        CheckRoute(context, shape, errors);
        CheckQuery(context, shape, errors);
        object? read = null;
        if (shape.Body is { } body && (shape.BodyRequired || !BodyAbsent(context)))
        {
            if (IsJson(context.Request.ContentType))
            {
                read = await CheckBodyAsync(context, body, shape.BodyRequired, errors);
            }
            else if (errors.Count == 0)
            {
                await Problems.Write(context, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", JsonOnly);
                return;
            }
        }

        // One 400 names every field problem of the request. A well-formed body is validated here only when something else is refused
        // (a route or query value, the Idempotency-Key): its validator would otherwise run only on the client's next try. A bad
        // Idempotency-Key alone is the idempotency middleware's to refuse (its own title and detail).
        var keyRefusal = IdempotencyMiddleware.KeyRefusal(context);
        if (read is not null && (errors.Count > 0 || keyRefusal is not null))
            await ValidateAsync(context, read, errors);
        if (keyRefusal is not null && errors.Count > 0)
            errors.Add(IdempotencyMiddleware.HeaderName, keyRefusal);

        if (errors.Count > 0)
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails = errors.ToProblem(),
            });
            return;
        }

        await next(context);
    }

    // An optional body (a nullable [FromBody]: a member's migration sends none) is absent by the rule Wolverine binds it null by.
    private static bool BodyAbsent(HttpContext context) =>
        context.Request.ContentLength == 0
        || context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>()?.CanHaveBody == false;

    // The Content-Encoding as sent, when it names any coding besides identity (none at all is the same as identity).
    private static string? ContentCoding(HttpRequest request) =>
        request.Headers.ContentEncoding.ToString() is { Length: > 0 } codings
        && codings.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Any(coding => !coding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            ? codings
            : null;

    private static bool IsJson(string? contentType) =>
        contentType is not null && Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
                                && (media.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
                                    || media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    private static void CheckRoute(HttpContext context, Shape shape, Errors errors)
    {
        var notUtf8 = ValuesNotUtf8(context);
        foreach (var (name, type, _) in shape.Route)
        {
            if (notUtf8.Contains(name))
                errors.Add(name, PathNotUtf8);
            else if (context.GetRouteValue(name) is string value)
                CheckValue(name, value, type, null, errors);
        }
    }

    // Kestrel decodes a path's percent-encoded bytes only where they are UTF-8 and leaves the rest as typed: "%FF" reached the
    // endpoint as the three characters and was looked up (404). The route values whose segment, as sent, has bytes that are not.
    private static HashSet<string> ValuesNotUtf8(HttpContext context)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget is not { } target
            || !target.Contains('%') || context.GetEndpoint() is not RouteEndpoint { RoutePattern: var pattern })
            return names;
        var path = target.Split('?', 2)[0];
        // The absolute form a proxy may send ("http://host/api/..."): its path is what follows the authority.
        if (!path.StartsWith('/') && path.IndexOf("://", StringComparison.Ordinal) is var scheme and >= 0)
            path = path.IndexOf('/', scheme + 3) is var start and >= 0 ? path[start..] : "/";
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < Math.Min(segments.Length, pattern.PathSegments.Count); i++)
        {
            if (PercentEncodedNotUtf8(segments[i])
                && pattern.PathSegments[i].Parts is [Microsoft.AspNetCore.Routing.Patterns.RoutePatternParameterPart parameter])
                names.Add(parameter.Name);
        }

        return names;
    }

    private static void CheckQuery(HttpContext context, Shape shape, Errors errors)
    {
        var notUtf8 = KeysNotUtf8(context.Request.QueryString);
        foreach (var (key, values) in context.Request.Query)
        {
            var parameter = shape.Query.FirstOrDefault(q => string.Equals(q.Name, key, StringComparison.OrdinalIgnoreCase));
            if (parameter.Name is null)
            {
                errors.Add(Printable(key), shape.Query.Count == 0
                    ? "This operation has no query parameters."
                    : $"Not a query parameter of this operation; it has: {string.Join(", ", shape.Query.Select(q => q.Name))}.");
                continue;
            }

            if (notUtf8.Contains(key))
            {
                errors.Add(parameter.Name, QueryNotUtf8);
                continue;
            }

            var element = ElementType(parameter.Type);
            if (element is null && values.Count > 1)
            {
                errors.Add(parameter.Name, "Give this parameter once.");
                continue;
            }

            foreach (var value in values)
                CheckValue(parameter.Name, value ?? "", element ?? parameter.Type, parameter.Parameter, errors);
        }
    }

    // The query string is decoded with bytes that are not UTF-8 turned into U+FFFD, which then reads as text someone typed. The
    // keys (as decoded) whose value's percent-encoded bytes are not UTF-8.
    private static HashSet<string> KeysNotUtf8(QueryString query)
    {
        var keys = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        if (query.Value is not { Length: > 1 } raw)
            return keys;
        foreach (var pair in raw[1..].Split('&'))
        {
            var equals = pair.IndexOf('=');
            var value = equals < 0 ? "" : pair[(equals + 1)..];
            if (PercentEncodedNotUtf8(value))
                keys.Add(System.Web.HttpUtility.UrlDecode(equals < 0 ? pair : pair[..equals]));
        }

        return keys;
    }

    // Whether a value as sent (a query value, a path segment) percent-encodes bytes that are not UTF-8.
    private static bool PercentEncodedNotUtf8(string sent) =>
        sent.Contains('%') && !System.Text.Unicode.Utf8.IsValid(System.Web.HttpUtility.UrlDecodeToBytes(sent));

    // Whether the body goes deeper than MaxDepth before anything else is wrong with it: the parser's error says only "not valid".
    private static bool NestsTooDeep(ReadOnlySpan<byte> bytes)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { MaxDepth = int.MaxValue });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= MaxDepth)
                    return true;
            }
        }
        catch (JsonException)
        {
        }

        return false;
    }

    // A value from the route or the query string, as the endpoint will bind it.
    private static void CheckValue(string name, string value, Type type, ParameterInfo? parameter, Errors errors)
    {
        if (LedgerJson.RefuseText(value, multiLine: false) is { } refusal)
        {
            errors.Add(name, refusal);
            return;
        }

        type = Nullable.GetUnderlyingType(type) ?? type;
        var invariant = CultureInfo.InvariantCulture;
        object? parsed = type switch
        {
            _ when type == typeof(string) => value,
            // Only the form the document gives (8-4-4-4-12 hex digits, either case), as a body's ids are read: Guid.TryParse also
            // takes no hyphens, braces and parentheses, and both trim spaces around (hence the length), so one account had many URLs.
            _ when type == typeof(Guid) => value.Length == 36 && Guid.TryParseExact(value, "D", out var id) ? id : null,
            _ when type == typeof(int) => int.TryParse(value, NumberStyles.AllowLeadingSign, invariant, out var i) ? i : null,
            _ when type == typeof(long) => long.TryParse(value, NumberStyles.AllowLeadingSign, invariant, out var l) ? l : null,
            _ when type == typeof(bool) => bool.TryParse(value, out var b) ? b : null,
            _ when type == typeof(DateTimeOffset) => TryParseTimestamp(value, out var t) ? t : null,
            _ when type == typeof(DateOnly) => DateOnly.TryParseExact(value, "yyyy-MM-dd", invariant, DateTimeStyles.None, out var d) ? d : null,
            _ when type.IsEnum => LedgerJson.NamesOf(type).Contains(value, StringComparer.OrdinalIgnoreCase) ? value : null,
            _ => value,
        };
        // A whole number with a [Range] is told its range, not the type's: "from 1 to 1000000", never "from -2147483648".
        var range = parameter?.GetCustomAttribute<RangeAttribute>(true);
        if (parsed is null)
        {
            // A whole number too large for its type is told the range, not the range's own words ("a positive number": it is one).
            errors.Add(name, range is not null && (type == typeof(int) || type == typeof(long))
                ? (WholeNumberText().IsMatch(value) ? null : range.ErrorMessage) ?? WholeNumber(range)
                : Expected(type) + UnescapedPlus(type, value) + TooPrecise(type, value));
            return;
        }

        if (parsed is Guid guid && guid == Guid.Empty)
        {
            errors.Add(name, LedgerJson.NilId);
            return;
        }

        foreach (var rule in parameter?.GetCustomAttributes<ValidationAttribute>(true) ?? [])
        {
            if (!rule.IsValid(parsed))
                errors.Add(name, rule is RangeAttribute whole && parsed is int or long ? whole.ErrorMessage ?? WholeNumber(whole) : rule.FormatErrorMessage(name));
        }
    }

    // A range that words its own message (a sequence: "a positive number") is told in those words, out of range or not a number.
    private static string WholeNumber(RangeAttribute range) =>
        string.Create(CultureInfo.InvariantCulture, $"Must be a whole number from {range.Minimum} to {range.Maximum}.");

    /// <summary>
    /// An ISO 8601 date and time with its offset. Without one (<c>2026-12-03T10:00:00</c>, <c>2026-12-03</c>) the moment is
    /// unknown: reading it as UTC would shift a portal's local time silently, so it is refused.
    /// </summary>
    public static bool TryParseTimestamp(string value, out DateTimeOffset timestamp)
    {
        timestamp = default;
        return Timestamp().IsMatch(value)
               && DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.None, out timestamp);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^[+-]?[0-9]+$")]
    private static partial System.Text.RegularExpressions.Regex WholeNumberText();

    [System.Text.RegularExpressions.GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?([Zz]|[+-]\d{2}:?\d{2})$")]
    private static partial System.Text.RegularExpressions.Regex Timestamp();

    // The body's FluentValidation validator, as FluentValidationHttpPolicy runs it inside the endpoint.
    private static async Task ValidateAsync(HttpContext context, object body, Errors errors)
    {
        foreach (var (field, message) in await FieldErrorsAsync(context, body) ?? [])
            errors.Add(field, message);
    }

    // The validator's first sentence per field, in its order; null when the body's type has no validator.
    private static async Task<List<KeyValuePair<string, string>>?> FieldErrorsAsync(HttpContext context, object body)
    {
        if (context.RequestServices.GetService(typeof(FluentValidation.IValidator<>).MakeGenericType(body.GetType())) is not FluentValidation.IValidator validator)
            return null;
        var result = await validator.ValidateAsync(new FluentValidation.ValidationContext<object>(body), context.RequestAborted);
        return [.. FluentValidationHttpExecutor.FieldErrors(result).Select(e => KeyValuePair.Create(e.Key, e.Value[0]))];
    }

    /// <summary>Checks the body's shape; returns it as read when it passes (null when it does not, or is absent).</summary>
    private async Task<object?> CheckBodyAsync(HttpContext context, Type type, bool required, Errors errors)
    {
        var request = context.Request;
        request.EnableBuffering();
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        request.Body.Position = 0;
        var bytes = new ReadOnlyMemory<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);

        // JSON is UTF-8 (RFC 8259). The parser checks names and strings only when they are read as text, so bytes in another
        // encoding would otherwise pass as "not text" at best, and in a member's name reach the diagnosis below as a 500.
        if (!System.Text.Unicode.Utf8.IsValid(bytes.Span))
        {
            errors.Add(BodyKey, NotUtf8);
            return null;
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = MaxDepth });
        }
        catch (JsonException e)
        {
            errors.Add(BodyKey, bytes.Length == 0
                ? "A JSON object is required as the request body."
                : NestsTooDeep(bytes.Span)
                    ? TooDeep
                    : $"The request body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).");
            return null;
        }

        using (document)
        {
            // An optional body sent as null means the same as none (a generated client sends null for a body left out).
            if (!required && document.RootElement.ValueKind == JsonValueKind.Null)
                return null;
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                errors.Add(BodyKey, "The request body must be a JSON object.");
                return null;
            }

            List<Step>? nullItems = null;
            NullItems(document.RootElement, null, ref nullItems);
            var typeInfo = _options.GetTypeInfo(type);
            JsonException? refusal = null;
            if (nullItems is null)
            {
                try
                {
                    return JsonSerializer.Deserialize(bytes.Span, typeInfo);
                }
                catch (JsonException e)
                {
                    refusal = e;
                }
            }

            // The error path only: a well-formed body was read once, above, and nothing more.
            await ReviewAsync(context, typeInfo, document.RootElement, refusal, nullItems ?? [], errors);
            return null;
        }
    }

    /// <summary>One step of a JSON path (a member's name or an item's index), linked to the step before it.</summary>
    private sealed record Step(Step? Parent, object Part)
    {
        public List<object> Parts()
        {
            var parts = new List<object>();
            for (var step = this; step is not null; step = step.Parent)
                parts.Add(step.Part);
            parts.Reverse();
            return parts;
        }
    }

    // A list holds values; a null in one is never what a client meant (and nothing downstream expects it).
    private static void NullItems(JsonElement element, Step? at, ref List<Step>? found)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                // A step is made only where a list can be below it (every request's path: keep it cheap).
                foreach (var property in element.EnumerateObject())
                {
                    if (property.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        NullItems(property.Value, new Step(at, property.Name), ref found);
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    if (item.ValueKind == JsonValueKind.Null)
                        (found ??= []).Add(new Step(at, index));
                    else if (item.ValueKind is JsonValueKind.Object or JsonValueKind.Array)
                        NullItems(item, new Step(at, index), ref found);
                    index++;
                }

                break;
        }
    }

    /// <summary>The errors key of a path: <c>tiers[0].code</c>.</summary>
    private static string KeyOf(IReadOnlyList<object> parts)
    {
        var key = new System.Text.StringBuilder();
        foreach (var part in parts)
        {
            if (part is int index)
                key.Append(CultureInfo.InvariantCulture, $"[{index}]");
            else
                key.Append(key.Length == 0 ? "" : ".").Append((string)part);
        }

        return key.Length == 0 ? BodyKey : key.ToString();
    }

    // A query string reads + as a space: "+02:00" typed into a URL arrives as " 02:00", an offset given and not seen as one.
    private static string UnescapedPlus(Type type, string value) =>
        type == typeof(DateTimeOffset) && value.Contains(' ') && TryParseTimestamp(value.Replace(' ', '+'), out _)
            ? $" A + in a URL's query is read as a space: write the offset's + as %2B ({value.Replace(" ", "%2B")})."
            : "";

    // `date +%N`, Go and Java give nine digits after the seconds; a moment is read to 100 ns, seven (DateTimeOffset's ticks). Told
    // so with the value cut to seven: asked for "ISO 8601 with its offset" alone, a caller who gave exactly that was left guessing.
    private static string TooPrecise(Type type, string value)
    {
        if (type != typeof(DateTimeOffset) || TooManyFractionDigits().Match(value) is not { Success: true } fraction)
            return "";
        var cut = value.Remove(fraction.Index + 8, fraction.Length - 8);
        return TryParseTimestamp(cut, out _) ? $" Give at most 7 digits after the seconds (100 ns): {cut}." : "";
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"(?<=:\d{2})\.\d{8,}")]
    private static partial System.Text.RegularExpressions.Regex TooManyFractionDigits();

    /// <summary>What a value of this type looks like, in words a portal can show next to the field.</summary>
    public static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string))
            return "Must be text.";
        if (type == typeof(bool))
            return "Must be true or false.";
        if (type == typeof(int))
            return $"Must be a whole number from {int.MinValue} to {int.MaxValue}.";
        if (type == typeof(long))
            return $"Must be a whole number from {long.MinValue} to {long.MaxValue}.";
        if (type == typeof(decimal) || type == typeof(double) || type == typeof(float))
            return "Must be a number.";
        if (type == typeof(DateOnly))
            return "Must be a date in the form YYYY-MM-DD, e.g. 2024-03-01.";
        if (type == typeof(DateTimeOffset) || type == typeof(DateTime))
            return "Must be a date and time in ISO 8601 form with its offset, e.g. 2024-03-01T09:30:00Z.";
        if (type == typeof(Guid))
            return "Must be a UUID, e.g. 3f2504e0-4f89-41d3-9a0c-0305e82c3301.";
        if (type.IsEnum)
            return $"Must be one of: {string.Join(", ", LedgerJson.NamesOf(type))}.";
        if (ElementType(type) is not null)
            return "Must be a list (a JSON array).";
        return "Must be a JSON object.";
    }

    private static Type? ElementType(Type type)
    {
        if (type == typeof(string))
            return null;
        if (type.IsArray)
            return type.GetElementType();
        return type.GetInterfaces().Append(type)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
    }

    /// <summary>
    /// Describes every endpoint once, at the host's first request, before that request (or any other) goes on. In Development each
    /// endpoint's handler is built by its first request, and the build adds to the lists Wolverine's description reads: a
    /// description made while another request's build ran failed with "Collection was modified" (a 500, seen in CI). The
    /// OpenAPI document's descriptions are made here too, for the same reason; ASP.NET Core keeps them.
    /// </summary>
    private static FrozenDictionary<HttpChain, Shape> Describe(EndpointDataSource endpoints, IApiDescriptionGroupCollectionProvider descriptions)
    {
        var shapes = endpoints.Endpoints.Select(e => e.Metadata.GetMetadata<HttpChain>()).OfType<HttpChain>().Distinct()
            .ToFrozenDictionary(chain => chain, Shape.Of);
        _ = descriptions.ApiDescriptionGroups;
        return shapes;
    }

    private static string Printable(string text) => LedgerJson.RefuseText(text, multiLine: false) is null ? text : "(unprintable name)";

    /// <summary>What an endpoint accepts, from the same API description the OpenAPI document is built from.</summary>
    private sealed record Shape(
        IReadOnlyList<(string Name, Type Type, ParameterInfo? Parameter)> Route,
        IReadOnlyList<(string Name, Type Type, ParameterInfo? Parameter)> Query,
        Type? Body,
        bool BodyRequired)
    {
        public static Shape Of(HttpChain chain)
        {
            var description = chain.CreateApiDescription(chain.HttpMethods.First());
            var body = description.ParameterDescriptions.FirstOrDefault(p => p.Source == BindingSource.Body);
            return new Shape(Parameters(description, BindingSource.Path), Parameters(description, BindingSource.Query), body?.Type,
                body?.IsRequired ?? false);
        }

        private static List<(string, Type, ParameterInfo?)> Parameters(ApiDescription description, BindingSource source) =>
        [
            .. description.ParameterDescriptions.Where(p => p.Source == source)
                .Select(p => (p.Name, p.Type ?? typeof(string), (p.ParameterDescriptor as ControllerParameterDescriptor)?.ParameterInfo)),
        ];
    }

    /// <summary>Field errors in the order found; one field may have several.</summary>
    public sealed class Errors
    {
        private readonly Dictionary<string, List<string>> _byField = new(StringComparer.Ordinal);

        public int Count => _byField.Count;

        public void Add(string field, string message)
        {
            if (!_byField.TryGetValue(field, out var messages))
                _byField[field] = messages = [];
            if (!messages.Contains(message))
                messages.Add(message);
        }

        public HttpValidationProblemDetails ToProblem() =>
            new(_byField.ToDictionary(e => e.Key, e => e.Value.ToArray()))
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "One or more validation errors occurred.",
            };
    }

    /// <summary>
    /// Explains the deserializer's refusal by the field it concerns: the JSON path it reports is walked in the request's own
    /// document and in the request type's JSON metadata side by side, so the answer says what was wrong there (missing, null,
    /// given twice, unknown, or the shape expected) without repeating the deserializer's message, which names .NET types.
    /// Returns what it named, each with the repair that lets the reader past it (<see cref="Finding"/>).
    /// </summary>
    private sealed class Diagnosis(JsonSerializerOptions options, JsonTypeInfo root, JsonElement body, StandIns standIns)
    {
        public List<Finding> Explain(JsonException exception, Errors errors)
        {
            var path = exception.Path ?? "$";
            var segments = Segments(path);
            // Keyed as every other error: a name the path writes in brackets ($['odd name']) by the name itself.
            var key = KeyOf(segments);
            JsonElement? element = body;
            JsonElement? parent = null;
            var type = root;
            JsonPropertyInfo? property = null;
            JsonTypeInfo? parentType = null;
            foreach (var segment in segments)
            {
                parent = element;
                parentType = type;
                property = null;
                if (segment is string name)
                {
                    property = type?.Properties.FirstOrDefault(p => p.Name == name);
                    element = element is { ValueKind: JsonValueKind.Object } o
                              && o.EnumerateObject().Where(p => p.Name == name)
                                  .Select(p => (JsonElement?)p.Value).FirstOrDefault() is { } found
                        ? found
                        : null;
                    type = property is null ? null : options.GetTypeInfo(property.PropertyType);
                }
                else
                {
                    var index = (int)segment;
                    element = element is { ValueKind: JsonValueKind.Array } a && index < a.GetArrayLength() ? a[index] : null;
                    type = type?.ElementType is { } itemType ? options.GetTypeInfo(itemType) : null;
                }
            }

            // The value named here is replaced by stand-ins of its type (null among them where the member may be null); a member
            // the type does not have is left out.
            Finding Named(string message)
            {
                errors.Add(key, message);
                return new Finding(key, segments, type is null ? null : standIns.For(type.Type, property?.IsSetNullable ?? false));
            }

            if (exception is LedgerJson.FieldException field)
                return [Named(field.Message)];

            if (segments.Count > 0 && segments[^1] is string last && parent is { ValueKind: JsonValueKind.Object } container)
            {
                if (container.EnumerateObject().Count(p => p.Name == last) > 1)
                    return [Named("Given more than once.")];

                if (property is null && parentType is not null)
                {
                    var meant = parentType.Properties.FirstOrDefault(p => string.Equals(p.Name, last, StringComparison.OrdinalIgnoreCase));
                    return [Named(meant is null
                        ? "Not a field of this request."
                        : $"Not a field of this request: member names are case-sensitive, this one is spelled {meant.Name}.")];
                }
            }

            if (element is { ValueKind: JsonValueKind.Object } obj && type is { Kind: JsonTypeInfoKind.Object })
            {
                var missing = type.Properties
                    .Where(p => p.IsRequired)
                    .Where(p => !obj.EnumerateObject().Any(m => m.Name == p.Name))
                    .ToList();
                var findings = new List<Finding>();
                foreach (var p in missing)
                {
                    var at = key == BodyKey ? p.Name : $"{key}.{p.Name}";
                    errors.Add(at, "Required.");
                    findings.Add(new Finding(at, [.. segments, p.Name], standIns.For(p.PropertyType, nullable: false)));
                }

                if (findings.Count > 0)
                    return findings;
            }

            if (element is { ValueKind: JsonValueKind.Null })
                return [Named("Must not be null.")];

            // A JSON number the type cannot hold is a number all the same: say it is out of range, not that it is no number.
            if (element is { ValueKind: JsonValueKind.Number } && type?.Type is { } numeric
                && (Nullable.GetUnderlyingType(numeric) ?? numeric) == typeof(decimal))
            {
                // Said plainly: the field's own rule (an amount's 18 digits, a VAT rate's fraction) is in its schema and errors.
                return [Named(LedgerJson.NumberOutOfRange)];
            }

            return [Named(type is null ? "Has a value of the wrong type or form." : Expected(type.Type))];
        }

        // "$.tiers[0].code" => "tiers", 0, "code"; "$['odd name']" => "odd name".
        private static List<object> Segments(string path)
        {
            var segments = new List<object>();
            var i = 1;
            while (i < path.Length)
            {
                if (path[i] == '.')
                {
                    var end = path.IndexOfAny(['.', '['], i + 1);
                    end = end < 0 ? path.Length : end;
                    segments.Add(path[(i + 1)..end]);
                    i = end;
                }
                else if (path[i] == '[' && i + 1 < path.Length && path[i + 1] == '\'')
                {
                    var end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                    end = end < 0 ? path.Length : end;
                    segments.Add(path[(i + 2)..end]);
                    i = end + 2;
                }
                else if (path[i] == '[')
                {
                    var end = path.IndexOf(']', i);
                    end = end < 0 ? path.Length : end;
                    segments.Add(int.TryParse(path[(i + 1)..end], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue);
                    i = end + 1;
                }
                else
                {
                    break;
                }
            }

            return segments;
        }
    }
}
