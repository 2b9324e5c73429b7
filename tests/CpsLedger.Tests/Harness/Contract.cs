using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;

namespace CpsLedger.Tests.Harness;

/// <summary>
/// The served OpenAPI document as the judge of every response the tests receive: the status must be one the operation
/// documents, the content type one documented for that status, a JSON body valid against its schema, and a Location,
/// Retry-After or Link header only where that status documents it (QA found the first two sent undocumented on 2026-12-04). A response the
/// document does not describe throws <see cref="ContractViolation"/> in the test that received it.
/// </summary>
public sealed class Contract
{
    private static readonly Uri DocumentUri = new("https://cpsledger.test/openapi/v1.json");
    private readonly List<Operation> _operations;
    private readonly BuildOptions _build;
    private readonly ConcurrentDictionary<string, JsonSchema> _schemas = new();

    // JsonSchema.Net's registry is a plain dictionary: building a schema registers into it and evaluating one resolves its $refs from it.
    // Test collections run in parallel and share this contract, and two builds at once corrupted it (seen in CI on 2026-12-07: two
    // tests failed in Dictionary.FindValue under SchemaRegistry.Register). One at a time; each is a few milliseconds at most.
    private readonly Lock _registry = new();
    private static readonly EvaluationOptions Evaluation = new() { OutputFormat = OutputFormat.List };

    public Contract(string documentJson)
    {
        Json = documentJson;
        var document = JsonDocument.Parse(documentJson).RootElement.Clone();
        Document = document;
        var registry = new SchemaRegistry();
        registry.Register(DocumentUri, new JsonElementBaseDocument(document, DocumentUri));
        _build = new BuildOptions { SchemaRegistry = registry };
        _operations =
        [
            .. document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
                .Where(o => o.Value.ValueKind == JsonValueKind.Object && o.Value.TryGetProperty("responses", out _))
                .Select(o => new Operation(o.Name.ToUpperInvariant(), path.Name, o.Value))),
        ];
    }

    public string Json { get; }

    public JsonElement Document { get; }

    public IReadOnlyList<Operation> Operations => _operations;

    /// <summary>The operation the document has for this method and path, or null when it has none (health, the console, a typo).</summary>
    public Operation? Find(string method, string path) =>
        _operations.Where(o => o.Method == method && o.Matches(path)).OrderBy(o => o.Parameters).FirstOrDefault();

    /// <summary>Every (operation, status) the tests have received so far in this run, whichever host answered.</summary>
    public static readonly ConcurrentDictionary<(string Operation, string Status), int> Observed = new();

    /// <summary>Headers a client acts on (where the outcome is read, when to retry, where the next page is): documented wherever they are sent.</summary>
    private static readonly string[] ContractHeaders = ["Location", "Retry-After", "Link"];

    public void Check(string method, string path, HttpStatusCode status, string? mediaType, string body, IEnumerable<string>? headers = null)
    {
        var operation = Find(method, path);
        if (operation is null)
            return;

        var code = ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Observed.AddOrUpdate((operation.Id, code), 1, (_, n) => n + 1);
        if (!operation.Responses.TryGetProperty(code, out var response))
            throw new ContractViolation($"{method} {path} answered {code}, which {operation} does not document " +
                                        $"(documented: {string.Join(", ", operation.Responses.EnumerateObject().Select(r => r.Name))}). Body: {Cut(body)}");

        foreach (var header in ContractHeaders.Where(h => headers?.Contains(h, StringComparer.OrdinalIgnoreCase) == true))
        {
            if (!response.TryGetProperty("headers", out var documented)
                || !documented.EnumerateObject().Any(h => string.Equals(h.Name, header, StringComparison.OrdinalIgnoreCase)))
                throw new ContractViolation($"{method} {path} answered {code} with a {header} header, which {operation} does not document for {code}.");
        }

        if (!response.TryGetProperty("content", out var content) || !content.EnumerateObject().Any())
        {
            if (body.Length > 0)
                throw new ContractViolation($"{method} {path} answered {code} with a body ({mediaType}) where {operation} documents none: {Cut(body)}");
            return;
        }

        if (body.Length == 0 && method != "HEAD")
            throw new ContractViolation($"{method} {path} answered {code} without a body where {operation} documents " +
                                        string.Join(", ", content.EnumerateObject().Select(c => c.Name)));
        if (mediaType is null || !content.TryGetProperty(mediaType, out var media))
            throw new ContractViolation($"{method} {path} answered {code} as {mediaType ?? "(no content type)"}; {operation} documents " +
                                        $"{string.Join(", ", content.EnumerateObject().Select(c => c.Name))}");

        if (!mediaType.EndsWith("json", StringComparison.Ordinal) || !media.TryGetProperty("schema", out _))
            return;

        var pointer = $"#/paths/{Escape(operation.Path)}/{operation.Method.ToLowerInvariant()}/responses/{code}/content/{Escape(mediaType)}/schema";
        JsonSchema schema;
        lock (_registry)
            schema = _schemas.GetOrAdd(pointer, p => JsonSchema.FromText($$"""{"$ref":"{{DocumentUri}}{{p}}"}""", _build));
        JsonElement instance;
        try
        {
            instance = JsonDocument.Parse(body).RootElement;
        }
        catch (JsonException e)
        {
            throw new ContractViolation($"{method} {path} answered {code} {mediaType} that is not JSON ({e.Message}): {Cut(body)}");
        }

        EvaluationResults result;
        lock (_registry)
            result = schema.Evaluate(instance, Evaluation);
        if (!result.IsValid)
        {
            var errors = (result.Details ?? []).Prepend(result).Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}): {e.Value}"))
                .Take(12).ToList();
            throw new ContractViolation($"{method} {path} answered {code} with a body its schema refuses:\n  {string.Join("\n  ", errors)}\nBody: {Cut(body)}");
        }
    }

    /// <summary>
    /// What the document promises that no test has seen: an operation never called, or a success or 404 status it documents
    /// but never answered. The other statuses come from policies every operation shares (the gate's 400, 401, 403, the
    /// idempotency 409 and 422, 413, 415, 503), each tested once for all; a success or a 404 is the endpoint's own.
    /// </summary>
    public IReadOnlyList<string> Unobserved() =>
    [
        .. _operations.SelectMany(operation =>
        {
            var seen = Observed.Keys.Where(k => k.Operation == operation.Id).Select(k => k.Status).ToHashSet();
            if (seen.Count == 0)
                return [$"{operation.Id} ({operation.Method} {operation.Path}): never called"];
            return operation.Responses.EnumerateObject().Select(r => r.Name)
                .Where(status => (status.StartsWith('2') || status == "404") && !seen.Contains(status))
                .Select(status => $"{operation.Id} ({operation.Method} {operation.Path}): documents {status}, never answered it");
        }),
    ];

    private static string Escape(string segment) => Uri.EscapeDataString(segment.Replace("~", "~0").Replace("/", "~1"));

    private static string Cut(string body) => body.Length > 2000 ? body[..2000] + "…" : body;

    public sealed class Operation
    {
        private readonly Regex _path;

        public Operation(string method, string path, JsonElement operation)
        {
            Method = method;
            Path = path;
            Element = operation;
            Responses = operation.GetProperty("responses");
            Id = operation.TryGetProperty("operationId", out var id) ? id.GetString()! : $"{method} {path}";
            Parameters = Regex.Matches(path, "{[^}]+}").Count;
            _path = new Regex("^" + Regex.Replace(Regex.Escape(path), @"\\\{[^}]+}", "[^/]+") + "$");
        }

        public string Method { get; }
        public string Path { get; }
        public string Id { get; }
        public JsonElement Element { get; }
        public JsonElement Responses { get; }
        public int Parameters { get; }

        public bool Matches(string path) => _path.IsMatch(path);

        public override string ToString() => Id;
    }
}

/// <summary>A response the OpenAPI document does not describe.</summary>
public sealed class ContractViolation(string message) : Exception(message);

/// <summary>Holds every response of the test host's clients against the served document (<see cref="Contract"/>).</summary>
public sealed class ContractCheck(Func<Task<Contract>> contract, CapturedLogs? logs = null) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        var path = request.RequestUri!.AbsolutePath;
        if (!path.StartsWith("/api/", StringComparison.Ordinal))
            return response;

        await response.Content.LoadIntoBufferAsync(cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            (await contract()).Check(request.Method.Method, path, response.StatusCode, response.Content.Headers.ContentType?.MediaType, body,
                response.Headers.Select(h => h.Key));
        }
        catch (ContractViolation violation) when (response.StatusCode == HttpStatusCode.InternalServerError && logs is not null)
        {
            // A 500 is a bug: say what the service logged for it, so that a failure seen once in CI can be read from its output.
            throw new ContractViolation($"{violation.Message}\nLogged for it:\n{logs.Explain(CorrelationId(body))}");
        }

        return response;
    }

    private static string? CorrelationId(string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            return json.RootElement.TryGetProperty("correlationId", out var id) ? id.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
