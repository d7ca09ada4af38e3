//! How to lend a machine to the cluster.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

#[component]
pub fn Contribute() -> impl IntoView {
    view! {
        <Title text="Contribute" />
        <section class="page prose">
            <h1>"Contribute"</h1>
            <p class="lead">
                "Potluck runs on volunteers' machines. Lend yours and your account earns kudos for \
                 every job it finishes; kudos move your own requests ahead in the queue."
            </p>
            <h2>"Run a worker"</h2>
            <ol>
                <li><A href="/register">"Register"</A> " (a name, nothing more) and keep the key."</li>
                <li>
                    "From a clone of Potluck's source, build the worker and start it with a model; \
                     it runs on any Vulkan, Metal or DX12 GPU:"
                    <pre><code>"cargo build --release -p worker\n\
    POTLUCK_API_KEY=YOUR_KEY target/release/potluck-worker \\\n    --server THIS_SITE --name my-box \\\n    --model \"$(scripts/fetch-smollm2.sh)\""</code></pre>
                </li>
                <li>
                    "Or bridge the OpenAI-compatible server you already run (llama.cpp, vLLM, Ollama, \
                     KoboldCpp): " <code>"--backend openai --backend-url http://127.0.0.1:8081/v1"</code> "."
                </li>
            </ol>
            <p>
                "Ctrl-C once finishes the current job and stops; your worker then shows in "
                <A href="/account">"your account"</A> ", where you can pause it for maintenance."
            </p>
            <h2>"From this browser tab"</h2>
            <p class="notice">
                "Lending this tab's GPU (WebGPU) to run a small model is not available yet. Nothing \
                 runs in your browser unless you start it here."
            </p>
        </section>
    }
}
